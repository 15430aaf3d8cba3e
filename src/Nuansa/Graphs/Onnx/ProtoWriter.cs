using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;

namespace Nuansa.Graphs.Onnx;

/// <summary>
/// Protocol-buffers wire format, enough to write ONNX models: varints, length-delimited fields, packed floats.
/// A message is kept as a list of parts (small encoded runs, and large arrays by reference) so that nesting
/// never copies: a model's weights are copied once, into the final buffer.
/// </summary>
internal sealed class ProtoWriter
{
    private readonly List<Part> _parts = [];
    private MemoryStream _run = new();

    public long Length { get; private set; }

    public byte[] ToArray()
    {
        Flush();
        if (Length > Array.MaxLength)
            throw new InvalidOperationException($"The ONNX model is {Length} bytes, more than one buffer holds; write its weights as external data.");
        var result = new byte[Length];
        var offset = 0;
        foreach (var part in _parts)
        {
            var bytes = part.Span;
            bytes.CopyTo(result.AsSpan(offset));
            offset += bytes.Length;
        }
        return result;
    }

    public void Int(int field, long value)
    {
        Key(field, 0);
        Varint((ulong)value);
    }

    public void Float(int field, float value)
    {
        Key(field, 5);
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteSingleLittleEndian(bytes, value);
        Write(bytes);
    }

    public void String(int field, string value)
    {
        var bytes = Encoding.UTF8.GetBytes(value);
        Key(field, 2);
        Varint((ulong)bytes.Length);
        Write(bytes);
    }

    /// <summary>A bytes field holding a primitive array's memory (little-endian hosts), referenced until written out.</summary>
    public void Raw(int field, Array values)
    {
        var part = new Part(null, values);
        Key(field, 2);
        Varint((ulong)part.Span.Length);
        Flush();
        _parts.Add(part);
        Length += part.Span.Length;
    }

    public void Message(int field, Action<ProtoWriter> write)
    {
        var inner = new ProtoWriter();
        write(inner);
        Append(field, inner);
    }

    public void PackedInts(int field, IEnumerable<long> values)
    {
        var inner = new ProtoWriter();
        foreach (var v in values)
            inner.Varint((ulong)v);
        Append(field, inner);
    }

    // A length-delimited field holding another writer's parts, taken over without copying them.
    private void Append(int field, ProtoWriter inner)
    {
        inner.Flush();
        Key(field, 2);
        Varint((ulong)inner.Length);
        Flush();
        _parts.AddRange(inner._parts);
        Length += inner.Length;
    }

    public void PackedFloats(int field, IReadOnlyList<float> values)
    {
        Key(field, 2);
        Varint((ulong)values.Count * 4);
        Span<byte> bytes = stackalloc byte[4];
        foreach (var v in values)
        {
            BinaryPrimitives.WriteSingleLittleEndian(bytes, v);
            Write(bytes);
        }
    }

    private void Key(int field, int wireType) => Varint(((ulong)field << 3) | (uint)wireType);

    private void Varint(ulong value)
    {
        while (value >= 0x80)
        {
            _run.WriteByte((byte)(value | 0x80));
            Length++;
            value >>= 7;
        }
        _run.WriteByte((byte)value);
        Length++;
    }

    private void Write(ReadOnlySpan<byte> bytes)
    {
        _run.Write(bytes);
        Length += bytes.Length;
    }

    // Ends the current run of small writes as a part of its own.
    private void Flush()
    {
        if (_run.Length == 0)
            return;
        _parts.Add(new Part(_run.ToArray(), null));
        _run = new MemoryStream();
    }

    private readonly record struct Part(byte[]? Bytes, Array? Values)
    {
        public ReadOnlySpan<byte> Span => Bytes ?? Values switch
        {
            float[] f => MemoryMarshal.AsBytes(f.AsSpan()),
            long[] l => MemoryMarshal.AsBytes(l.AsSpan()),
            sbyte[] s => MemoryMarshal.AsBytes(s.AsSpan()),
            byte[] b => b,
            _ => throw new ArgumentException($"Unsupported raw array type {Values?.GetType().Name}."),
        };
    }
}
