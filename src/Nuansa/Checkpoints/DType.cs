using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Nuansa.Checkpoints;

/// <summary>Element types of the safetensors format, in the format's own order (increasing alignment).</summary>
public enum DType
{
    Bool,
    U8,
    I8,
    F8E5M2,
    F8E4M3,
    I16,
    U16,
    F16,
    BF16,
    I32,
    U32,
    F32,
    F64,
    I64,
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
