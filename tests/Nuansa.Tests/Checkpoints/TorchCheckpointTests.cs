using System.Diagnostics;
using Nuansa.Checkpoints;

namespace Nuansa.Tests.Checkpoints;

public class TorchCheckpointTests
{
    private static readonly byte[] SixFloats = Floats(0, 1, 2, 3, 4, 5);

    [Fact]
    public void ReadsTheFixtureBin()
    {
        var tensors = TorchCheckpoint.Load(Path.Combine(SharedFiles.Model("bert-2label-legacy-bin"), "pytorch_model.bin"));
        Assert.Equal(41, tensors.Count);
        Assert.Equal("bert.embeddings.word_embeddings.weight", tensors[0].Info.Name);
        Assert.Equal([30522L, 32], tensors[0].Info.Shape);
        Assert.All(tensors, t => Assert.Equal(DType.F32, t.Info.DType));
    }

    [Fact]
    public void GathersStridedAndOffsetViews()
    {
        // storage [0 1 2 3 4 5]; "t" is the transpose of its 2x3 reading; "tail" is a view starting at element 4.
        var bytes = PickleBuilder.Archive(p => p
                .Tensor("t", "FloatStorage", "0", 6, 0, [3, 2], [1, 3])
                .Tensor("tail", "FloatStorage", "0", 6, 4, [2], [1]),
            new Dictionary<string, byte[]> { ["0"] = SixFloats });
        var tensors = Load(bytes);
        Assert.Equal([3L, 2], tensors[0].Info.Shape);
        Assert.Equal(Floats(0, 3, 1, 4, 2, 5), tensors[0].Data);
        Assert.Equal(Floats(4, 5), tensors[1].Data);
    }

    [Theory]
    [InlineData("HalfStorage", DType.F16)]
    [InlineData("BFloat16Storage", DType.BF16)]
    [InlineData("LongStorage", DType.I64)]
    public void KeepsTheStorageDtype(string storage, DType dtype)
    {
        var data = Enumerable.Range(1, 3 * dtype.Size()).Select(i => (byte)i).ToArray();
        var tensors = Load(PickleBuilder.Archive(p => p.Tensor("x", storage, "7", 3, 0, [3], [1]),
            new Dictionary<string, byte[]> { ["7"] = data }));
        Assert.Equal(dtype, tensors[0].Info.DType);
        Assert.Equal(data, tensors[0].Data);
    }

    [Fact]
    public void UnwrapsParameters()
    {
        var pickle = new PickleBuilder().Op('}').Mark().String("w")
            .Global("torch._utils", "_rebuild_parameter").Mark();
        pickle.Global("torch._utils", "_rebuild_tensor_v2").Mark()
            .Mark().String("storage").Global("torch", "FloatStorage").String("0").String("cpu").Int(6).Op('t').Op('Q')
            .Int(0).IntTuple(6).IntTuple(1).Op('\x89').Global("collections", "OrderedDict").Op(')').Op('R').Op('t').Op('R');
        pickle.Op('\x88').Global("collections", "OrderedDict").Op(')').Op('R').Op('t').Op('R').Op('u').Op('.');
        var tensors = Load(PickleBuilder.Zip(pickle.ToArray(), new Dictionary<string, byte[]> { ["0"] = SixFloats }));
        Assert.Equal("w", tensors[0].Info.Name);
        Assert.Equal(SixFloats, tensors[0].Data);
    }

    [Theory]
    [InlineData("os", "system")]
    [InlineData("builtins", "eval")]
    [InlineData("builtins", "exec")]
    [InlineData("__builtin__", "eval")]
    [InlineData("posix", "system")]
    [InlineData("subprocess", "Popen")]
    [InlineData("torch", "load")]
    [InlineData("torch.nn.modules.linear", "Linear")]
    public void RefusesGlobalsOutsideTheAllowList(string module, string name)
    {
        // The classic payload: GLOBAL os.system, ('echo pwned',), REDUCE.
        var pickle = new PickleBuilder().Global(module, name).Mark().String("echo pwned").Op('t').Op('R').Op('.').ToArray();
        var e = AssertFailsFast<UnsafePickleException>(PickleBuilder.Zip(pickle, new Dictionary<string, byte[]>()));
        Assert.Equal($"{module}.{name}", e.Global);
        Assert.Contains($"'{module}.{name}'", e.Message);
    }

    [Fact]
    public void RefusesStackGlobalToo()
    {
        var pickle = new PickleBuilder().String("os").String("system").Op('\x93').Mark().String("id").Op('t').Op('R').Op('.').ToArray();
        Assert.Equal("os.system", AssertFailsFast<UnsafePickleException>(PickleBuilder.Zip(pickle, new Dictionary<string, byte[]>())).Global);
    }

    // Built on demand: large byte arrays in theory data would be serialized at test discovery.
    private static readonly Dictionary<string, (Func<byte[]> Bytes, string Expected)> Damaged = DamagedArchiveCases();

    public static TheoryData<string> DamagedArchives() => [.. Damaged.Keys];

    private static Dictionary<string, (Func<byte[]>, string)> DamagedArchiveCases()
    {
        var storage = new Dictionary<string, byte[]> { ["0"] = SixFloats };
        var cases = new List<(string, Func<byte[]>, string)>
        {
            ("not a zip", () => "not a checkpoint"u8.ToArray(), "not a zip archive"),
            ("pre-1.6 pickle file", () => [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46], "not a zip archive"),
            ("zip without data.pkl", () => PickleBuilder.Zip([], storage).Take(30).ToArray(), "zip"),
            ("unsupported opcode", () => PickleBuilder.Zip(new PickleBuilder().Op('i').ToArray(), storage), "unsupported pickle opcode"),
            ("no STOP", () => PickleBuilder.Zip(new PickleBuilder().Op('}').ToArray(), storage), "ends without STOP"),
            ("string past the end", () => PickleBuilder.Zip(new PickleBuilder().Op('X').Raw(0xFF, 0xFF, 0xFF, 0x7F).ToArray(), storage), "past the end"),
            ("huge integer", () => PickleBuilder.Zip(new PickleBuilder().Op('\x8b').Raw(0, 0, 0, 1).Raw(new byte[16777216]).ToArray(), storage), "integer"),
            ("stack underflow", () => PickleBuilder.Zip(new PickleBuilder().Op('R').ToArray(), storage), "underflow"),
            ("memo read before write", () => PickleBuilder.Zip(new PickleBuilder().Op('h').Raw(9).ToArray(), storage), "memo"),
            ("not a dict", () => PickleBuilder.Zip(new PickleBuilder().Op(']').Op('.').ToArray(), storage), "not a state dict"),
            ("value not a tensor", () => PickleBuilder.Zip(new PickleBuilder().Op('}').String("k").Int(3).Op('s').Op('.').ToArray(), storage), "not a tensor"),
            ("missing storage", () => PickleBuilder.Archive(p => p.Tensor("x", "FloatStorage", "9", 6, 0, [6], [1]), storage), "missing"),
            ("storage shorter than declared", () => PickleBuilder.Archive(p => p.Tensor("x", "FloatStorage", "0", 8, 0, [8], [1]), storage), "needs 32"),
            ("view past the storage", () => PickleBuilder.Archive(p => p.Tensor("x", "FloatStorage", "0", 6, 4, [3], [1]), storage), "past the end of its storage"),
            ("strided view past the storage", () => PickleBuilder.Archive(p => p.Tensor("x", "FloatStorage", "0", 6, 0, [2, 2], [5, 1]), storage), "past the end of its storage"),
            ("bad persistent id", () => PickleBuilder.Zip(new PickleBuilder().Op('}').String("x").String("evil").Op('Q').Op('s').Op('.').ToArray(), storage), "persistent id"),
            ("unknown storage class", () => PickleBuilder.Archive(p => p.Tensor("x", "QUInt8Storage", "0", 6, 0, [6], [1]), storage), "torch.QUInt8Storage"),
        };
        return cases.ToDictionary(c => c.Item1, c => (c.Item2, c.Item3));
    }

    [Theory]
    [MemberData(nameof(DamagedArchives))]
    public void DamagedArchivesGetASpecificError(string what)
    {
        var (bytes, expected) = Damaged[what];
        var e = AssertFailsFast<CheckpointFormatException>(bytes());
        Assert.True(e.Message.Contains(expected, StringComparison.Ordinal), $"{what}: {e.Message}");
    }

    private static T AssertFailsFast<T>(byte[] bytes) where T : Exception
    {
        using var dir = new TempDirectory();
        var path = dir.File("pytorch_model.bin");
        File.WriteAllBytes(path, bytes);
        var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        var clock = Stopwatch.StartNew();
        var e = Assert.ThrowsAny<T>(() => TorchCheckpoint.Load(path));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"took {clock.Elapsed}");
        var allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
        Assert.True(allocated < 4_000_000 + 4L * bytes.Length, $"allocated {allocated} bytes");
        return e;
    }

    private static IReadOnlyList<(TensorInfo Info, byte[] Data)> Load(byte[] archive)
    {
        using var dir = new TempDirectory();
        var path = dir.File("pytorch_model.bin");
        File.WriteAllBytes(path, archive);
        return TorchCheckpoint.Load(path);
    }

    private static byte[] Floats(params float[] values) => values.SelectMany(BitConverter.GetBytes).ToArray();
}
