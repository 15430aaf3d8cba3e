using Nuansa.Checkpoints;

namespace Nuansa.Tests.Checkpoints;

public class DTypeTests
{
    [Fact]
    public void WidensEveryHalfPrecisionPatternExactly()
    {
        // Independent decoding from the IEEE 754 binary16 definition: 1 sign, 5 exponent, 10 fraction bits.
        var source = new byte[65536 * 2];
        for (var bits = 0; bits < 65536; bits++)
            BitConverter.TryWriteBytes(source.AsSpan(bits * 2), (ushort)bits);
        var widened = new float[65536];
        DTypes.ToSingle(DType.F16, source, widened);
        for (var bits = 0; bits < 65536; bits++)
            AssertSame(Decode(bits, exponentBits: 5, fractionBits: 10), widened[bits], bits);
    }

    [Fact]
    public void WidensEveryBFloat16PatternExactly()
    {
        // bfloat16: 1 sign, 8 exponent, 7 fraction bits.
        var source = new byte[65536 * 2];
        for (var bits = 0; bits < 65536; bits++)
            BitConverter.TryWriteBytes(source.AsSpan(bits * 2), (ushort)bits);
        var widened = new float[65536];
        DTypes.ToSingle(DType.BF16, source, widened);
        for (var bits = 0; bits < 65536; bits++)
            AssertSame(Decode(bits, exponentBits: 8, fractionBits: 7), widened[bits], bits);
    }

    [Fact]
    public void ReadsIntegersWithSign()
    {
        var values = new long[2];
        DTypes.ToInt64(DType.I8, new byte[] { 0xFF, 0x05 }, values);
        Assert.Equal([-1L, 5], values);
        DTypes.ToInt64(DType.U16, new byte[] { 0xFF, 0xFF, 0x01, 0x00 }, values);
        Assert.Equal([65535L, 1], values);
        DTypes.ToInt64(DType.I32, new byte[] { 0xFE, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x80 }, values);
        Assert.Equal([-2L, int.MinValue], values);
    }

    [Fact]
    public void ParsesEverySafetensorsName()
    {
        foreach (var name in new[] { "BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "F64", "I64", "U64" })
        {
            Assert.True(DTypes.TryParse(name, out var type));
            Assert.Equal(name, type.Name());
        }
        Assert.False(DTypes.TryParse("f32", out _));
        Assert.Equal(2, DType.BF16.Size());
        Assert.Equal(8, DType.U64.Size());
    }

    private static double Decode(int bits, int exponentBits, int fractionBits)
    {
        var sign = (bits >> (exponentBits + fractionBits)) & 1;
        var exponent = (bits >> fractionBits) & ((1 << exponentBits) - 1);
        var fraction = bits & ((1 << fractionBits) - 1);
        var bias = (1 << (exponentBits - 1)) - 1;
        double magnitude;
        if (exponent == (1 << exponentBits) - 1)
            magnitude = fraction == 0 ? double.PositiveInfinity : double.NaN;
        else if (exponent == 0)
            magnitude = Math.Pow(2, 1 - bias) * (fraction / Math.Pow(2, fractionBits));
        else
            magnitude = Math.Pow(2, exponent - bias) * (1 + fraction / Math.Pow(2, fractionBits));
        return sign == 1 ? -magnitude : magnitude;
    }

    private static void AssertSame(double expected, float actual, int bits)
    {
        if (double.IsNaN(expected))
        {
            Assert.True(float.IsNaN(actual), $"pattern 0x{bits:x4}");
            return;
        }
        Assert.True(expected == actual, $"pattern 0x{bits:x4}: expected {expected:R}, got {actual:R}");
        Assert.Equal(double.IsNegative(expected), float.IsNegative(actual)); // keeps -0
    }
}
