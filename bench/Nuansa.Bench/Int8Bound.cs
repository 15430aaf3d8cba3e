using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Nuansa.Bench;

/// <summary>
/// How fast uint8 × int8 products can go with AVX2 alone (no VNNI), against the float32 FMA rate of the same thread:
/// a register-blocked kernel of our own (weights packed four k-values to a 32-bit lane, as ONNX Runtime packs them)
/// multiplies [504 × 768] by [768 × 3072] once with vpmaddubsw + vpmaddwd per four k-values,
/// and once with two vpmaddubsw pair sums added in 16 bits before each vpmaddwd (exact only when activations and
/// weights both fit in 7 bits). Results are checked against integer arithmetic. Run it under
/// <c>bench/avx2-only.sh</c> so the FMA rate is also measured in 256-bit vectors.
/// </summary>
internal static class Int8Bound
{
    private const int M = 504, K = 768, N = 3072;   // rows divisible by both blockings

    public static int Run()
    {
        if (!Avx2.IsSupported)
            throw new PlatformNotSupportedException("int8-bound needs AVX2.");
        var random = new Random(1);
        var a = new byte[M * K];
        for (var i = 0; i < a.Length; i++)
            a[i] = (byte)random.Next(0, 128);   // 7-bit activations: exact in both kernels
        var b = new sbyte[K * N];
        for (var i = 0; i < b.Length; i++)
            b[i] = (sbyte)random.Next(-64, 64);  // 7-bit weights, as the AVX2 form uses
        var packed = Pack(b);
        var c = new int[M * N];
        var fma = FmaProbe.Run(1);
        foreach (var pairs in new[] { false, true })
        {
            Multiply(a, packed, c, pairs); // JIT and warm-up
            var best = double.MaxValue;
            for (var repeat = 0; repeat < 7; repeat++)
            {
                var clock = Stopwatch.StartNew();
                Multiply(a, packed, c, pairs);
                best = Math.Min(best, clock.Elapsed.TotalSeconds);
            }
            for (var t = 0; t < 1000; t++)
            {
                int i = random.Next(M), j = random.Next(N);
                long sum = 0;
                for (var k = 0; k < K; k++)
                    sum += a[i * K + k] * b[k * N + j];
                if (sum != c[i * N + j])
                    throw new InvalidOperationException($"int8 kernel wrong at [{i}, {j}]: {c[i * N + j]} instead of {sum}");
            }
            var gops = 2.0 * M * N * K / best / 1e9;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"int8 u8xs8 avx2 kernel={(pairs ? "two-pair-sums-per-vpmaddwd" : "vpmaddubsw+vpmaddwd")} threads=1 gops={gops:F0} vs_fma={gops / fma:F2}"));
        }
        return 0;
    }

    // [N / 8 column blocks][K / 4][8 columns][4 k-values]: one 32-byte load gives 8 columns × 4 consecutive k.
    private static sbyte[] Pack(sbyte[] b)
    {
        var packed = new sbyte[K * N];
        var index = 0;
        for (var block = 0; block < N; block += 8)
            for (var k = 0; k < K; k += 4)
                for (var column = 0; column < 8; column++)
                    for (var kk = 0; kk < 4; kk++)
                        packed[index++] = b[(k + kk) * N + block + column];
        return packed;
    }

    // Blocked for AVX2's 16 vector registers (an AVX2-only CPU has no more): 3 rows × 16 columns, six accumulators,
    // for one vpmaddwd per vpmaddubsw; 2 rows × 16 columns for the pair sums, which hold twice the weights.
    private static void Multiply(byte[] a, sbyte[] packed, int[] c, bool pairs)
    {
        var ones = Vector256.Create((short)1);
        ref var a0 = ref a[0];
        ref var p0 = ref Unsafe.As<sbyte, byte>(ref packed[0]);
        ref var c0 = ref c[0];
        for (var block = 0; block < N; block += 16)
        {
            ref var w0 = ref Unsafe.Add(ref p0, block * K);
            ref var w1 = ref Unsafe.Add(ref p0, (block + 8) * K);
            if (!pairs)
            {
                for (var m = 0; m < M; m += 3)
                {
                    var s0 = Vector256<int>.Zero; var s1 = Vector256<int>.Zero; var s2 = Vector256<int>.Zero;
                    var s3 = Vector256<int>.Zero; var s4 = Vector256<int>.Zero; var s5 = Vector256<int>.Zero;
                    ref var r0 = ref Unsafe.Add(ref a0, m * K);
                    ref var r1 = ref Unsafe.Add(ref r0, K);
                    ref var r2 = ref Unsafe.Add(ref r1, K);
                    for (var k = 0; k < K; k += 4)
                    {
                        var b0 = Vector256.LoadUnsafe(ref w0, (nuint)(k * 8)).AsSByte();
                        var b1 = Vector256.LoadUnsafe(ref w1, (nuint)(k * 8)).AsSByte();
                        var x = Broadcast(ref r0, k);
                        s0 = Avx2.Add(s0, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(x, b0), ones));
                        s1 = Avx2.Add(s1, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(x, b1), ones));
                        x = Broadcast(ref r1, k);
                        s2 = Avx2.Add(s2, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(x, b0), ones));
                        s3 = Avx2.Add(s3, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(x, b1), ones));
                        x = Broadcast(ref r2, k);
                        s4 = Avx2.Add(s4, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(x, b0), ones));
                        s5 = Avx2.Add(s5, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(x, b1), ones));
                    }
                    ref var o = ref Unsafe.Add(ref c0, m * N + block);
                    s0.StoreUnsafe(ref o); s1.StoreUnsafe(ref o, 8);
                    s2.StoreUnsafe(ref o, (nuint)N); s3.StoreUnsafe(ref o, (nuint)(N + 8));
                    s4.StoreUnsafe(ref o, (nuint)(2 * N)); s5.StoreUnsafe(ref o, (nuint)(2 * N + 8));
                }
            }
            else
            {
                for (var m = 0; m < M; m += 2)
                {
                    var s0 = Vector256<int>.Zero; var s1 = Vector256<int>.Zero; var s2 = Vector256<int>.Zero; var s3 = Vector256<int>.Zero;
                    ref var r0 = ref Unsafe.Add(ref a0, m * K);
                    ref var r1 = ref Unsafe.Add(ref r0, K);
                    for (var k = 0; k < K; k += 8)
                    {
                        var b0 = Vector256.LoadUnsafe(ref w0, (nuint)(k * 8)).AsSByte();
                        var d0 = Vector256.LoadUnsafe(ref w0, (nuint)(k * 8 + 32)).AsSByte();
                        var b1 = Vector256.LoadUnsafe(ref w1, (nuint)(k * 8)).AsSByte();
                        var d1 = Vector256.LoadUnsafe(ref w1, (nuint)(k * 8 + 32)).AsSByte();
                        var x = Broadcast(ref r0, k);
                        var y = Broadcast(ref r0, k + 4);
                        s0 = Avx2.Add(s0, Avx2.MultiplyAddAdjacent(Avx2.Add(Avx2.MultiplyAddAdjacent(x, b0), Avx2.MultiplyAddAdjacent(y, d0)), ones));
                        s1 = Avx2.Add(s1, Avx2.MultiplyAddAdjacent(Avx2.Add(Avx2.MultiplyAddAdjacent(x, b1), Avx2.MultiplyAddAdjacent(y, d1)), ones));
                        x = Broadcast(ref r1, k);
                        y = Broadcast(ref r1, k + 4);
                        s2 = Avx2.Add(s2, Avx2.MultiplyAddAdjacent(Avx2.Add(Avx2.MultiplyAddAdjacent(x, b0), Avx2.MultiplyAddAdjacent(y, d0)), ones));
                        s3 = Avx2.Add(s3, Avx2.MultiplyAddAdjacent(Avx2.Add(Avx2.MultiplyAddAdjacent(x, b1), Avx2.MultiplyAddAdjacent(y, d1)), ones));
                    }
                    ref var o = ref Unsafe.Add(ref c0, m * N + block);
                    s0.StoreUnsafe(ref o); s1.StoreUnsafe(ref o, 8);
                    s2.StoreUnsafe(ref o, (nuint)N); s3.StoreUnsafe(ref o, (nuint)(N + 8));
                }
            }
        }
    }

    // Four consecutive activations of one row in every 32-bit lane.
    private static Vector256<byte> Broadcast(ref byte row, int k) =>
        Vector256.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.Add(ref row, k))).AsByte();
}
