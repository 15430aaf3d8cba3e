using System.IO.MemoryMappedFiles;
using System.Text.Json;
using System.Text.Unicode;

namespace Nuansa.Checkpoints;

/// <summary>
/// A memory-mapped <c>.safetensors</c> file: an 8-byte little-endian header length, a JSON header,
/// then the tensors' bytes. The header is validated as strictly as HF's reference reader does
/// (header-size limit, UTF-8 JSON object, known dtypes, offsets contiguous from 0 to the end of
/// the file, byte lengths equal to shape × dtype size) before any tensor is touched.
/// </summary>
public sealed unsafe class SafeTensorsFile : IDisposable
{
    /// <summary>The reference implementation's limit on the JSON header (100 MB).</summary>
    public const long MaxHeaderSize = 100_000_000;

    private readonly MemoryMappedFile? _map;
    private readonly MemoryMappedViewAccessor? _view;
    private readonly byte* _data;
    private readonly Dictionary<string, (TensorInfo Info, long Offset)> _byName;
    private bool _disposed;

    private SafeTensorsFile(string path, Header header, MemoryMappedFile? map, MemoryMappedViewAccessor? view, byte* data)
    {
        Path = path;
        Metadata = header.Metadata;
        Tensors = header.Tensors.Select(t => t.Info).ToArray();
        _byName = header.Tensors.ToDictionary(t => t.Info.Name, t => (t.Info, t.Offset), StringComparer.Ordinal);
        _map = map;
        _view = view;
        _data = data;
    }

    /// <summary>The file read.</summary>
    public string Path { get; }

    /// <summary>The free-form <c>__metadata__</c> strings (e.g. <c>format: pt</c>).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Every tensor, in the order of its bytes in the file.</summary>
    public IReadOnlyList<TensorInfo> Tensors { get; }

    /// <summary>Whether the file stores a tensor of this name.</summary>
    public bool Contains(string name) => _byName.ContainsKey(name);

    /// <summary>Type and shape of the named tensor; throws <see cref="CheckpointFormatException"/> naming it when absent.</summary>
    public TensorInfo GetInfo(string name) => Find(name).Info;

    /// <summary>Opens and validates a file; the tensor data stays on disk, mapped into memory.</summary>
    public static SafeTensorsFile Open(string path)
    {
        Header header;
        long fileLength;
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.None);
            fileLength = stream.Length;
            header = ReadHeader(stream, path);
        }
        catch (FileNotFoundException e)
        {
            throw new CheckpointFormatException($"{path}: file not found.", e);
        }
        catch (IOException e) when (e is not EndOfStreamException)
        {
            throw new CheckpointFormatException($"{path}: cannot be read: {e.Message}", e);
        }

        var dataStart = 8 + header.HeaderLength;
        if (fileLength == dataStart)
            return new SafeTensorsFile(path, header, null, null, null);

        var map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        try
        {
            var view = map.CreateViewAccessor(0, fileLength, MemoryMappedFileAccess.Read);
            byte* pointer = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
            return new SafeTensorsFile(path, header, map, view, pointer + view.PointerOffset + dataStart);
        }
        catch
        {
            map.Dispose();
            throw;
        }
    }

    /// <summary>The raw little-endian bytes of one tensor, valid until this file is disposed.</summary>
    public ReadOnlySpan<byte> GetBytes(string name)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var (info, offset) = Find(name);
        if (info.ByteLength > int.MaxValue)
            throw new NotSupportedException($"{Path}: tensor '{name}' is {info.ByteLength} bytes; tensors over 2 GiB are not supported.");
        return info.ByteLength == 0 ? [] : new ReadOnlySpan<byte>(_data + offset, (int)info.ByteLength);
    }

    /// <summary>One F32/F16/BF16 tensor widened to float32 (exactly).</summary>
    public float[] ReadSingle(string name)
    {
        var info = GetInfo(name);
        if (!info.DType.IsFloatingPoint())
            throw new CheckpointFormatException($"{Path}: tensor '{name}' is {info.DType.Name()}, not a floating-point tensor (F32, F16 or BF16).");
        var result = new float[info.ElementCount];
        DTypes.ToSingle(info.DType, GetBytes(name), result);
        return result;
    }

    /// <summary>One integer or boolean tensor as int64.</summary>
    public long[] ReadInt64(string name)
    {
        var info = GetInfo(name);
        var result = new long[info.ElementCount];
        DTypes.ToInt64(info.DType, GetBytes(name), result);
        return result;
    }

    /// <summary>Unmaps the file.</summary>
    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        if (_view != null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
        }
        _map?.Dispose();
    }

    private (TensorInfo Info, long Offset) Find(string name) =>
        _byName.TryGetValue(name, out var entry)
            ? entry
            : throw new CheckpointFormatException($"{Path}: no tensor named '{name}'.");

    internal sealed record Header(long HeaderLength, IReadOnlyDictionary<string, string> Metadata, IReadOnlyList<(TensorInfo Info, long Offset)> Tensors);

    /// <summary>Reads and validates the header of a safetensors stream positioned at its start.</summary>
    internal static Header ReadHeader(Stream stream, string path)
    {
        var fileLength = stream.Length;
        Span<byte> prefix = stackalloc byte[8];
        if (fileLength < 8)
            throw Bad(path, $"the file is {fileLength} bytes, too short to hold the 8-byte header length.");
        stream.ReadExactly(prefix);
        var n = BitConverter.ToUInt64(prefix);
        if (!BitConverter.IsLittleEndian)
            n = System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(n);
        if (n > MaxHeaderSize)
            throw Bad(path, $"the header length {n} exceeds the {MaxHeaderSize}-byte limit; the file is corrupt or not a safetensors file.");
        if ((long)n > fileLength - 8)
            throw Bad(path, $"the header length {n} runs past the end of the {fileLength}-byte file (truncated download?).");
        var headerBytes = new byte[n];
        stream.ReadExactly(headerBytes);
        return ParseHeader(headerBytes, fileLength, path);
    }

    internal static Header ParseHeader(byte[] headerBytes, long fileLength, string path)
    {
        if (!Utf8.IsValid(headerBytes))
            throw Bad(path, "the header is not valid UTF-8.");
        if (headerBytes.Length == 0 || headerBytes[0] != (byte)'{')
            throw Bad(path, "the header does not start with '{'.");

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(headerBytes);
        }
        catch (JsonException e)
        {
            throw Bad(path, $"the header is not valid JSON: {e.Message}");
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw Bad(path, "the header is not a JSON object.");
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var tensors = new List<(TensorInfo Info, long Begin, long End)>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (!seen.Add(property.Name))
                    throw Bad(path, $"the header names '{property.Name}' twice.");
                if (property.Name == "__metadata__")
                    ReadMetadata(property.Value, metadata, path);
                else
                    tensors.Add(ReadTensorEntry(property.Name, property.Value, path));
            }

            tensors.Sort((a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
            long expected = 0;
            foreach (var (info, begin, end) in tensors)
            {
                if (begin != expected || end < begin)
                    throw Bad(path, $"tensor '{info.Name}' has data_offsets [{begin}, {end}], but the next free byte is {expected}: offsets must be contiguous and non-overlapping.");
                if (end - begin != info.ByteLength)
                    throw Bad(path, $"tensor '{info.Name}' is {info.DType.Name()} with shape [{string.Join(", ", info.Shape)}], which needs {info.ByteLength} bytes, but its data_offsets span {end - begin}.");
                expected = end;
            }
            var dataLength = fileLength - 8 - headerBytes.Length;
            if (expected != dataLength)
                throw Bad(path, $"the tensors cover {expected} bytes, but the file holds {dataLength} bytes of data after the header.");
            return new Header(headerBytes.Length, metadata, tensors.Select(t => (t.Info, t.Begin)).ToArray());
        }
    }

    private static void ReadMetadata(JsonElement value, Dictionary<string, string> metadata, string path)
    {
        if (value.ValueKind == JsonValueKind.Null)
            return;
        if (value.ValueKind != JsonValueKind.Object)
            throw Bad(path, "__metadata__ must be an object of strings.");
        foreach (var entry in value.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.String)
                throw Bad(path, $"__metadata__ entry '{entry.Name}' is not a string.");
            if (!metadata.TryAdd(entry.Name, entry.Value.GetString()!))
                throw Bad(path, $"__metadata__ names '{entry.Name}' twice.");
        }
    }

    private static (TensorInfo, long, long) ReadTensorEntry(string name, JsonElement value, string path)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw Bad(path, $"the entry for tensor '{name}' is not an object.");
        if (!value.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
            throw Bad(path, $"tensor '{name}' has no dtype string.");
        var dtypeName = dtypeElement.GetString()!;
        if (!DTypes.TryParse(dtypeName, out var dtype))
            throw Bad(path, $"tensor '{name}' has unknown dtype '{dtypeName}'.");
        var shape = ReadUnsignedArray(value, "shape", name, path, null);
        var offsets = ReadUnsignedArray(value, "data_offsets", name, path, 2);
        long count = 1;
        foreach (var dimension in shape)
        {
            if (!TryMultiply(count, dimension, out count))
                throw Bad(path, $"tensor '{name}' has shape [{string.Join(", ", shape)}], whose size overflows.");
        }
        if (!TryMultiply(count, dtype.Size(), out _))
            throw Bad(path, $"tensor '{name}' has shape [{string.Join(", ", shape)}], whose byte size overflows.");
        return (new TensorInfo(name, dtype, shape), offsets[0], offsets[1]);
    }

    private static long[] ReadUnsignedArray(JsonElement value, string field, string tensor, string path, int? length)
    {
        if (!value.TryGetProperty(field, out var array) || array.ValueKind != JsonValueKind.Array)
            throw Bad(path, $"tensor '{tensor}' has no {field} array.");
        if (length is { } l && array.GetArrayLength() != l)
            throw Bad(path, $"tensor '{tensor}' must have exactly {l} {field}.");
        var result = new long[array.GetArrayLength()];
        var i = 0;
        foreach (var item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt64(out var v) || v < 0)
                throw Bad(path, $"tensor '{tensor}' has a {field} entry that is not a non-negative integer: {item.GetRawText()}.");
            result[i++] = v;
        }
        return result;
    }

    private static bool TryMultiply(long a, long b, out long product)
    {
        var wide = (Int128)a * b;
        product = wide <= long.MaxValue ? (long)wide : 0;
        return wide <= long.MaxValue;
    }

    private static CheckpointFormatException Bad(string path, string what) =>
        new($"{path}: not a valid safetensors file: {what}");
}
