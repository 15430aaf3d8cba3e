using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Nuansa.Checkpoints;

/// <summary>Element types of the safetensors format, in the format's own order (increasing alignment).</summary>
public enum DType
{
    /// <summary>Booleans, one byte each.</summary>
    Bool,

    /// <summary>Unsigned 8-bit integers.</summary>
    U8,

    /// <summary>Signed 8-bit integers.</summary>
    I8,

    /// <summary>8-bit floats with 5 exponent and 2 mantissa bits.</summary>
    F8E5M2,

    /// <summary>8-bit floats with 4 exponent and 3 mantissa bits.</summary>
    F8E4M3,

    /// <summary>Signed 16-bit integers.</summary>
    I16,

    /// <summary>Unsigned 16-bit integers.</summary>
    U16,

    /// <summary>IEEE half-precision floats.</summary>
    F16,

    /// <summary>bfloat16: float32's exponent with a 7-bit mantissa.</summary>
    BF16,

    /// <summary>Signed 32-bit integers.</summary>
    I32,

    /// <summary>Unsigned 32-bit integers.</summary>
    U32,

    /// <summary>IEEE single-precision floats.</summary>
    F32,

    /// <summary>IEEE double-precision floats.</summary>
    F64,

    /// <summary>Signed 64-bit integers.</summary>
    I64,

    /// <summary>Unsigned 64-bit integers.</summary>
    U64,
}

/// <summary>Names, sizes and conversions of <see cref="DType"/>.</summary>
public static class DTypes
{
    private static readonly (DType Type, string Name, int Size)[] Table =
    [
        (DType.Bool, "BOOL", 1), (DType.U8, "U8", 1), (DType.I8, "I8", 1),
        (DType.F8E5M2, "F8_E5M2", 1), (DType.F8E4M3, "F8_E4M3", 1),
        (DType.I16, "I16", 2), (DType.U16, "U16", 2), (DType.F16, "F16", 2), (DType.BF16, "BF16", 2),
        (DType.I32, "I32", 4), (DType.U32, "U32", 4), (DType.F32, "F32", 4),
        (DType.F64, "F64", 8), (DType.I64, "I64", 8), (DType.U64, "U64", 8),
    ];

    /// <summary>The safetensors spelling, e.g. <c>F32</c>, <c>F8_E4M3</c>.</summary>
    public static string Name(this DType type) => Table[(int)type].Name;

    /// <summary>Bytes per element.</summary>
    public static int Size(this DType type) => Table[(int)type].Size;

    /// <summary>True for the dtypes Nuansa widens to float32 exactly (F32, F16, BF16).</summary>
    public static bool IsFloatingPoint(this DType type) => type is DType.F32 or DType.F16 or DType.BF16;

    /// <summary>The type a safetensors header names (<c>F32</c>, <c>BF16</c>, ...); false for a name the format does not define.</summary>
    public static bool TryParse(string name, out DType type)
    {
        foreach (var row in Table)
        {
            if (row.Name == name)
            {
                type = row.Type;
                return true;
            }
        }
        type = default;
        return false;
    }

    /// <summary>Widens little-endian F32/F16/BF16 data to float32; every value is represented exactly.</summary>
    public static void ToSingle(DType type, ReadOnlySpan<byte> source, Span<float> destination)
    {
        var count = destination.Length;
        if (source.Length != (long)count * type.Size())
            throw new ArgumentException($"{source.Length} bytes of {type.Name()} do not hold {count} elements.");
        switch (type)
        {
            case DType.F32:
                if (BitConverter.IsLittleEndian)
                {
                    MemoryMarshal.Cast<byte, float>(source).CopyTo(destination);
                }
                else
                {
                    for (var i = 0; i < count; i++)
                        destination[i] = BinaryPrimitives.ReadSingleLittleEndian(source[(i * 4)..]);
                }
                break;
            case DType.F16:
                for (var i = 0; i < count; i++)
                    destination[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(source[(i * 2)..]);
                break;
            case DType.BF16:
                // bfloat16 is the upper half of a float32: shifting the bits back is exact.
                for (var i = 0; i < count; i++)
                    destination[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(source[(i * 2)..]) << 16);
                break;
            default:
                throw new NotSupportedException($"{type.Name()} is not a floating-point dtype Nuansa widens to float32 (F32, F16, BF16).");
        }
    }

    /// <summary>Reads little-endian integer or boolean data as int64.</summary>
    public static void ToInt64(DType type, ReadOnlySpan<byte> source, Span<long> destination)
    {
        var count = destination.Length;
        if (source.Length != (long)count * type.Size())
            throw new ArgumentException($"{source.Length} bytes of {type.Name()} do not hold {count} elements.");
        for (var i = 0; i < count; i++)
        {
            destination[i] = type switch
            {
                DType.Bool or DType.U8 => source[i],
                DType.I8 => (sbyte)source[i],
                DType.I16 => BinaryPrimitives.ReadInt16LittleEndian(source[(i * 2)..]),
                DType.U16 => BinaryPrimitives.ReadUInt16LittleEndian(source[(i * 2)..]),
                DType.I32 => BinaryPrimitives.ReadInt32LittleEndian(source[(i * 4)..]),
                DType.U32 => BinaryPrimitives.ReadUInt32LittleEndian(source[(i * 4)..]),
                DType.I64 => BinaryPrimitives.ReadInt64LittleEndian(source[(i * 8)..]),
                DType.U64 => checked((long)BinaryPrimitives.ReadUInt64LittleEndian(source[(i * 8)..])),
                _ => throw new NotSupportedException($"{type.Name()} is not an integer dtype."),
            };
        }
    }
}
