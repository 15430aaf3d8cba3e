using System.Buffers.Binary;
using System.Text;

namespace Nuansa.Checkpoints;

/// <summary>One tensor to write: its name, element type, shape and little-endian bytes.</summary>
public readonly record struct TensorToWrite(string Name, DType DType, IReadOnlyList<long> Shape, ReadOnlyMemory<byte> Data)
{
    /// <summary>A float32 tensor of the given shape.</summary>
    public static TensorToWrite FromSingle(string name, IReadOnlyList<long> shape, float[] values)
    {
        var bytes = new byte[values.Length * 4];
        for (var i = 0; i < values.Length; i++)
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
        return new TensorToWrite(name, DType.F32, shape, bytes);
    }

    /// <summary>An int64 tensor of the given shape.</summary>
    public static TensorToWrite FromInt64(string name, IReadOnlyList<long> shape, long[] values)
    {
        var bytes = new byte[values.Length * 8];
        for (var i = 0; i < values.Length; i++)
            BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(i * 8), values[i]);
        return new TensorToWrite(name, DType.I64, shape, bytes);
    }
}

/// <summary>
/// Writes <c>.safetensors</c> files laid out exactly as HF's reference serializer lays them out:
/// tensors sorted by dtype (widest alignment first) then name, compact JSON header with
/// <c>__metadata__</c> first (its entries in the order given), padded with spaces to a multiple of 8 bytes.
/// </summary>
public static class SafeTensorsWriter
{
    /// <summary>Writes to a temporary file beside <paramref name="path"/> and renames it, so no half-written file is left.</summary>
    public static void Write(string path, IEnumerable<TensorToWrite> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var ordered = Order(tensors);
        AtomicFile.Write(path, stream => WriteTo(stream, ordered, metadata));
    }

    /// <summary>The serialized file in memory (same bytes as <see cref="Write"/>).</summary>
    public static byte[] Serialize(IEnumerable<TensorToWrite> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        using var stream = new MemoryStream();
        WriteTo(stream, Order(tensors), metadata);
        return stream.ToArray();
    }

    private static void WriteTo(Stream stream, List<TensorToWrite> ordered, IReadOnlyDictionary<string, string>? metadata)
    {
        var header = BuildHeader(ordered, metadata);
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
        stream.Write(length);
        stream.Write(header);
        foreach (var tensor in ordered)
            stream.Write(tensor.Data.Span);
    }

    private static List<TensorToWrite> Order(IEnumerable<TensorToWrite> tensors)
    {
        var list = tensors.ToList();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in list)
        {
            if (!names.Add(t.Name))
                throw new ArgumentException($"Tensor '{t.Name}' is given twice.");
            if (t.Name == "__metadata__")
                throw new ArgumentException("'__metadata__' is reserved and cannot name a tensor.");
            var info = new TensorInfo(t.Name, t.DType, t.Shape);
            if (info.ByteLength != t.Data.Length)
                throw new ArgumentException($"Tensor '{t.Name}' ({info}) needs {info.ByteLength} bytes but {t.Data.Length} were given.");
        }
        // The reference orders by dtype, widest alignment first, then by name compared as UTF-8 bytes.
        list.Sort((a, b) => a.DType != b.DType
            ? b.DType.CompareTo(a.DType)
            : Encoding.UTF8.GetBytes(a.Name).AsSpan().SequenceCompareTo(Encoding.UTF8.GetBytes(b.Name)));
        return list;
    }

    private static byte[] BuildHeader(List<TensorToWrite> ordered, IReadOnlyDictionary<string, string>? metadata)
    {
        var json = new StringBuilder("{");
        var first = true;
        if (metadata is { Count: > 0 })
        {
            json.Append("\"__metadata__\":{");
            var firstEntry = true;
            foreach (var (key, value) in metadata)
            {
                if (!firstEntry)
                    json.Append(',');
                firstEntry = false;
                AppendString(json, key).Append(':');
                AppendString(json, value);
            }
            json.Append('}');
            first = false;
        }
        long offset = 0;
        foreach (var t in ordered)
        {
            if (!first)
                json.Append(',');
            first = false;
            AppendString(json, t.Name);
            json.Append(":{\"dtype\":\"").Append(t.DType.Name()).Append("\",\"shape\":[")
                .AppendJoin(',', t.Shape).Append("],\"data_offsets\":[")
                .Append(offset).Append(',').Append(offset + t.Data.Length).Append("]}");
            offset += t.Data.Length;
        }
        json.Append('}');
        var bytes = Encoding.UTF8.GetBytes(json.ToString());
        var padded = new byte[(bytes.Length + 7) / 8 * 8];
        bytes.CopyTo(padded, 0);
        padded.AsSpan(bytes.Length).Fill((byte)' ');
        return padded;
    }

    // JSON string escaping as serde_json does it: quote, backslash and control characters only.
    private static StringBuilder AppendString(StringBuilder json, string value)
    {
        json.Append('"');
        foreach (var c in value)
        {
            switch (c)
            {
                case '"': json.Append("\\\""); break;
                case '\\': json.Append("\\\\"); break;
                case '\b': json.Append("\\b"); break;
                case '\f': json.Append("\\f"); break;
                case '\n': json.Append("\\n"); break;
                case '\r': json.Append("\\r"); break;
                case '\t': json.Append("\\t"); break;
                case < ' ': json.Append("\\u00").Append(((int)c).ToString("x2", System.Globalization.CultureInfo.InvariantCulture)); break;
                default: json.Append(c); break;
            }
        }
        return json.Append('"');
    }
}
