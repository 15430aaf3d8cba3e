using System.Buffers.Binary;
using System.Text;

namespace Nuansa.Graphs.Onnx;

/// <summary>Protocol-buffers wire format, enough to write ONNX models: varints, length-delimited fields, packed floats.</summary>
internal sealed class ProtoWriter
{
    private readonly MemoryStream _stream = new();

    public long Length => _stream.Length;

    public byte[] ToArray() => _stream.ToArray();

    public void WriteTo(Stream destination) => _stream.WriteTo(destination);

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
        _stream.Write(bytes);
    }

    public void String(int field, string value) => Bytes(field, Encoding.UTF8.GetBytes(value));

    public void Bytes(int field, ReadOnlySpan<byte> value)
    {
        Key(field, 2);
        Varint((ulong)value.Length);
        _stream.Write(value);
    }

    public void Message(int field, Action<ProtoWriter> write)
    {
        var inner = new ProtoWriter();
        write(inner);
        Key(field, 2);
        Varint((ulong)inner.Length);
        inner.WriteTo(_stream);
    }

    public void PackedInts(int field, IEnumerable<long> values)
    {
        var inner = new ProtoWriter();
        foreach (var v in values)
            inner.Varint((ulong)v);
        Key(field, 2);
        Varint((ulong)inner.Length);
        inner.WriteTo(_stream);
    }

    public void PackedFloats(int field, IReadOnlyList<float> values)
    {
        Key(field, 2);
        Varint((ulong)values.Count * 4);
        Span<byte> bytes = stackalloc byte[4];
        foreach (var v in values)
        {
            BinaryPrimitives.WriteSingleLittleEndian(bytes, v);
            _stream.Write(bytes);
        }
    }

    private void Key(int field, int wireType) => Varint(((ulong)field << 3) | (uint)wireType);

    private void Varint(ulong value)
    {
        while (value >= 0x80)
        {
            _stream.WriteByte((byte)(value | 0x80));
            value >>= 7;
        }
        _stream.WriteByte((byte)value);
    }
}
