using System.Diagnostics;
using System.Globalization;
using System.Runtime.Intrinsics;

namespace Nuansa.Bench;

/// <summary>
/// The host's physical float32 limit: GFLOP/s of independent fused multiply-adds in the widest vectors the CPU has
/// (AVX-512 or AVX2), on every thread under test at once. No model can pass it; the forward benchmark reads against it.
/// </summary>
internal static class FmaProbe
{
    public static double Run(int threads)
    {
        Loop(1_000_000); // JIT and warm-up
        double best = 0;
        for (var repeat = 0; repeat < 5; repeat++)
        {
            const long iterations = 50_000_000;
            var clock = Stopwatch.StartNew();
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, _ => Loop(iterations));
            var flops = 2.0 * threads * iterations * 8 * (Vector512.IsHardwareAccelerated ? 16 : 8);
            best = Math.Max(best, flops / clock.Elapsed.TotalSeconds / 1e9);
        }
        var width = Vector512.IsHardwareAccelerated ? "AVX-512" : "AVX2";
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"machine fma_limit threads={threads} vectors={width} gflops={best:F0}"));
        return best;
    }

    // Eight independent accumulators hide the FMA latency; the result is kept so the loop is not removed.
    private static float Loop(long iterations)
    {
        if (Vector512.IsHardwareAccelerated)
        {
            var a = Vector512.Create(1.0001f);
            var b = Vector512.Create(0.9999f);
            Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default, s4 = default, s5 = default, s6 = default, s7 = default;
            for (long i = 0; i < iterations; i++)
            {
                s0 = Vector512.FusedMultiplyAdd(s0, a, b); s1 = Vector512.FusedMultiplyAdd(s1, a, b);
                s2 = Vector512.FusedMultiplyAdd(s2, a, b); s3 = Vector512.FusedMultiplyAdd(s3, a, b);
                s4 = Vector512.FusedMultiplyAdd(s4, a, b); s5 = Vector512.FusedMultiplyAdd(s5, a, b);
                s6 = Vector512.FusedMultiplyAdd(s6, a, b); s7 = Vector512.FusedMultiplyAdd(s7, a, b);
            }
            return Vector512.Sum(s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7);
        }
        var c = Vector256.Create(1.0001f);
        var d = Vector256.Create(0.9999f);
        Vector256<float> t0 = default, t1 = default, t2 = default, t3 = default, t4 = default, t5 = default, t6 = default, t7 = default;
        for (long i = 0; i < iterations; i++)
        {
            t0 = Vector256.FusedMultiplyAdd(t0, c, d); t1 = Vector256.FusedMultiplyAdd(t1, c, d);
            t2 = Vector256.FusedMultiplyAdd(t2, c, d); t3 = Vector256.FusedMultiplyAdd(t3, c, d);
            t4 = Vector256.FusedMultiplyAdd(t4, c, d); t5 = Vector256.FusedMultiplyAdd(t5, c, d);
            t6 = Vector256.FusedMultiplyAdd(t6, c, d); t7 = Vector256.FusedMultiplyAdd(t7, c, d);
        }
        return Vector256.Sum(t0 + t1 + t2 + t3 + t4 + t5 + t6 + t7);
    }
}
