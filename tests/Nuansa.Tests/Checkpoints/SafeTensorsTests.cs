using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using Nuansa.Checkpoints;

namespace Nuansa.Tests.Checkpoints;

public class SafeTensorsTests
{
    public static TheoryData<string> FixtureFiles()
    {
        var data = new TheoryData<string>();
        foreach (var file in Directory.EnumerateFiles(SharedFiles.Fixtures, "*.safetensors", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
            data.Add(Path.GetRelativePath(SharedFiles.Fixtures, file));
        return data;
    }

    [Theory]
    [MemberData(nameof(FixtureFiles))]
    public void RewritingAFixtureReproducesItByteForByte(string relative)
    {
        // The fixtures were written in the layout of HF's reference serializer, so an identical
        // file shows both that every tensor was read right and that our files are in HF's layout.
        var path = Path.Combine(SharedFiles.Fixtures, relative);
        using var file = SafeTensorsFile.Open(path);
        Assert.NotEmpty(file.Tensors);
        var tensors = file.Tensors.Select(t => new TensorToWrite(t.Name, t.DType, t.Shape, file.GetBytes(t.Name).ToArray()));
        Assert.Equal(File.ReadAllBytes(path), SafeTensorsWriter.Serialize(tensors, file.Metadata));
    }

    [Fact]
    public void SerializesTheFormatsOwnExample()
    {
        // The example of the format's documentation: one F32 tensor "attn.0" of shape [1, 2, 3].
        float[] values = [0, 1, 2, 3, 4, 5];
        var bytes = SafeTensorsWriter.Serialize([TensorToWrite.FromSingle("attn.0", [1, 2, 3], values)]);
        var header = """{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}""";
        Assert.Equal(64, header.Length);
        var expected = new List<byte> { 64, 0, 0, 0, 0, 0, 0, 0 };
        expected.AddRange(Encoding.ASCII.GetBytes(header));
        foreach (var v in values)
            expected.AddRange(BitConverter.GetBytes(v));
        Assert.Equal(expected.ToArray(), bytes);
    }

    [Fact]
    public void PadsTheHeaderWithSpacesToEightBytes()
    {
        var bytes = SafeTensorsWriter.Serialize([], new Dictionary<string, string> { ["framework"] = "pt" });
        var header = """{"__metadata__":{"framework":"pt"}}""" + "     ";
        Assert.Equal(40, header.Length);
        Assert.Equal([.. new byte[] { 40, 0, 0, 0, 0, 0, 0, 0 }, .. Encoding.ASCII.GetBytes(header)], bytes);
        Assert.Equal(Encoding.ASCII.GetBytes("{}      "), SafeTensorsWriter.Serialize([]).AsSpan(8).ToArray());
    }

    [Fact]
    public void OrdersTensorsByDtypeThenName()
    {
        var bytes = SafeTensorsWriter.Serialize(
        [
            new TensorToWrite("b", DType.F16, [1], new byte[2]),
            new TensorToWrite("a", DType.F16, [1], new byte[2]),
            new TensorToWrite("z", DType.I64, [1], new byte[8]),
            new TensorToWrite("m", DType.F32, [1], new byte[4]),
        ]);
        var header = Encoding.ASCII.GetString(bytes, 8, (int)BitConverter.ToUInt64(bytes)).TrimEnd();
        Assert.Equal("""{"z":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},"m":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},"a":{"dtype":"F16","shape":[1],"data_offsets":[12,14]},"b":{"dtype":"F16","shape":[1],"data_offsets":[14,16]}}""", header);
    }

    [Fact]
    public void WriteThenReadRoundTripsEveryDtypeBitExactly()
    {
        using var dir = new TempDirectory();
        var random = new Random(7);
        var tensors = new List<TensorToWrite>();
        foreach (var dtype in Enum.GetValues<DType>())
        {
            var bytes = new byte[3 * 5 * dtype.Size()];
            random.NextBytes(bytes); // arbitrary bits, NaN payloads and subnormals included
            tensors.Add(new TensorToWrite($"t.{dtype}", dtype, [3, 5], bytes));
        }
        tensors.Add(new TensorToWrite("scalar", DType.F32, [], new byte[4] { 1, 2, 3, 4 }));
        tensors.Add(new TensorToWrite("empty", DType.F32, [0, 7], Array.Empty<byte>()));
        var path = dir.File("all.safetensors");
        SafeTensorsWriter.Write(path, tensors, new Dictionary<string, string> { ["format"] = "pt", ["note"] = "ünïcode \"quoted\"\n" });

        using var file = SafeTensorsFile.Open(path);
        Assert.Equal("ünïcode \"quoted\"\n", file.Metadata["note"]);
        foreach (var t in tensors)
        {
            var info = file.GetInfo(t.Name);
            Assert.Equal(t.DType, info.DType);
            Assert.Equal(t.Shape, info.Shape);
            Assert.Equal(t.Data.ToArray(), file.GetBytes(t.Name).ToArray());
        }
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp"));
    }

    [Fact]
    public void ReadsValuesAsFloatAndInteger()
    {
        using var dir = new TempDirectory();
        var path = dir.File("v.safetensors");
        SafeTensorsWriter.Write(path,
        [
            TensorToWrite.FromSingle("f", [2], [1.5f, -0.25f]),
            TensorToWrite.FromInt64("i", [3], [-1, 0, long.MaxValue]),
        ]);
        using var file = SafeTensorsFile.Open(path);
        Assert.Equal([1.5f, -0.25f], file.ReadSingle("f"));
        Assert.Equal([-1L, 0, long.MaxValue], file.ReadInt64("i"));
        Assert.Throws<CheckpointFormatException>(() => file.ReadSingle("i"));
        Assert.Contains("nope", Assert.Throws<CheckpointFormatException>(() => file.GetBytes("nope")).Message);
    }

    [Fact]
    public void AFailedWriteLeavesNoFile()
    {
        using var dir = new TempDirectory();
        var path = dir.File("bad.safetensors");
        Assert.Throws<ArgumentException>(() => SafeTensorsWriter.Write(path, [new TensorToWrite("x", DType.F32, [3], new byte[8])]));
        Assert.Throws<ArgumentException>(() => SafeTensorsWriter.Write(path, [TensorToWrite.FromSingle("x", [1], [1f]), TensorToWrite.FromSingle("x", [1], [2f])]));
        Assert.Empty(Directory.GetFiles(dir.Path));
    }

    public static TheoryData<string, byte[], string> HostileFiles()
    {
        var data = new TheoryData<string, byte[], string>
        {
            { "empty file", [], "too short" },
            { "five bytes", [1, 2, 3, 4, 5], "too short" },
            { "header length 2^64 - 1", Raw(ulong.MaxValue, "{}"), "limit" },
            { "header length 2^64 - 8", Raw(ulong.MaxValue - 7, "{}"), "limit" },
            { "header length 2^63", Raw(1UL << 63, "{}"), "limit" },
            { "header length just over the limit", Raw(100_000_001, "{}"), "limit" },
            { "header length beyond the file", Raw(4096, "{}"), "past the end" },
            { "garbage JSON", Make("{this is not json", 0), "not valid JSON" },
            { "JSON array", Make("[1,2,3]", 0), "start with '{'" },
            { "JSON number", Make("{\"a\": 1}", 0), "not an object" },
            { "invalid UTF-8", [.. Raw(4, ""), 0x7B, 0xFF, 0xFE, 0x7D], "UTF-8" },
            { "overlapping offsets", Make(Tensors(("a", "F32", "[2]", 0, 8), ("b", "F32", "[2]", 4, 12)), 12), "contiguous" },
            { "gap between tensors", Make(Tensors(("a", "F32", "[2]", 0, 8), ("b", "F32", "[2]", 12, 20)), 20), "contiguous" },
            { "offsets past the data", Make(Tensors(("a", "F32", "[4]", 0, 16)), 8), "cover 16 bytes" },
            { "truncated data", Make(Tensors(("a", "F32", "[1000]", 0, 4000)), 3999), "cover 4000 bytes" },
            { "trailing bytes", Make(Tensors(("a", "F32", "[1]", 0, 4)), 8), "holds 8 bytes" },
            { "end before begin", Make(Tensors(("a", "F32", "[0]", 0, 0), ("b", "F32", "[1]", 4, 0)), 4), "contiguous" },
            { "dtype/shape mismatch", Make(Tensors(("a", "F32", "[3]", 0, 8)), 8), "needs 12 bytes" },
            { "F16 sized as F32", Make(Tensors(("a", "F16", "[4]", 0, 16)), 16), "needs 8 bytes" },
            { "unknown dtype", Make(Tensors(("a", "F128", "[1]", 0, 16)), 16), "unknown dtype 'F128'" },
            { "shape overflow", Make(Tensors(("a", "F32", "[4294967296,4294967296,16]", 0, 4)), 4), "overflows" },
            { "negative dimension", Make(Tensors(("a", "F32", "[-1]", 0, 4)), 4), "non-negative" },
            { "fractional dimension", Make(Tensors(("a", "F32", "[1.5]", 0, 4)), 4), "non-negative" },
            { "missing offsets", Make("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4), "data_offsets" },
            { "three offsets", Make("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 4), "exactly 2" },
            { "duplicate tensor", Make(Tensors(("a", "F32", "[1]", 0, 4), ("a", "F32", "[1]", 4, 8)), 8), "twice" },
            { "metadata not strings", Make("{\"__metadata__\":{\"k\":1}}", 0), "not a string" },
        };
        return data;
    }

    [Theory]
    [MemberData(nameof(HostileFiles))]
    public void HostileFilesGetASpecificErrorQuicklyAndInBoundedMemory(string what, byte[] contents, string expected)
    {
        using var dir = new TempDirectory();
        var path = dir.File("hostile.safetensors");
        File.WriteAllBytes(path, contents);

        var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        var clock = Stopwatch.StartNew();
        var e = Assert.Throws<CheckpointFormatException>(() => SafeTensorsFile.Open(path).Dispose());
        clock.Stop();
        var allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;

        Assert.Contains(expected, e.Message);
        Assert.Contains(path, e.Message);
        Assert.True(allocated < 1_000_000 + 4 * contents.Length, $"{what}: allocated {allocated} bytes");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"{what}: took {clock.Elapsed}");
    }

    [Fact]
    public void AMissingFileIsNamed()
    {
        var e = Assert.Throws<CheckpointFormatException>(() => SafeTensorsFile.Open("/no/such/model.safetensors"));
        Assert.Contains("/no/such/model.safetensors", e.Message);
    }

    private static string Tensors(params (string Name, string DType, string Shape, long Begin, long End)[] tensors) =>
        "{" + string.Join(",", tensors.Select(t => $"\"{t.Name}\":{{\"dtype\":\"{t.DType}\",\"shape\":{t.Shape},\"data_offsets\":[{t.Begin},{t.End}]}}")) + "}";

    private static byte[] Make(string header, int dataBytes) =>
        [.. Raw((ulong)Encoding.UTF8.GetByteCount(header), header), .. new byte[dataBytes]];

    private static byte[] Raw(ulong declaredLength, string header)
    {
        var prefix = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(prefix, declaredLength);
        return [.. prefix, .. Encoding.UTF8.GetBytes(header)];
    }
}
