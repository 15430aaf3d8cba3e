using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace Nuansa.Training;

/// <summary>AdamW's hyper-parameters, with HF <c>TrainingArguments</c>' defaults.</summary>
internal sealed record AdamWOptions
{
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.999;
    public double Epsilon { get; init; } = 1e-8;

    /// <summary>Decoupled weight decay, applied to the parameters whose <see cref="Models.Parameter.Decays"/> is true.</summary>
    public double WeightDecay { get; init; }
}

/// <summary>
/// AdamW with decoupled weight decay, computed as <c>torch.optim.AdamW</c> does (float32 tensors, Python-float
/// bias corrections): p ← p·(1 − lr·wd); m ← β₁m + (1 − β₁)g; v ← β₂v + (1 − β₂)g²;
/// p ← p − lr/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε).
/// </summary>
internal sealed class AdamW
{
    private readonly AdamWOptions _options;
    private readonly Dictionary<string, (float[] M, float[] V)> _moments = new(StringComparer.Ordinal);

    public AdamW(AdamWOptions options)
    {
        _options = options;
    }

    /// <summary>Optimizer steps taken so far (t in the formulas).</summary>
    public int Step { get; private set; }

    /// <summary>Moments by parameter name, for checkpoints that resume exactly.</summary>
    public IReadOnlyDictionary<string, (float[] M, float[] V)> Moments => _moments;

    /// <summary>Updates every parameter in place with its gradient, at learning rate <paramref name="lr"/>.</summary>
    public void Update(IEnumerable<(string Name, float[] Values, float[] Gradient, bool Decays)> parameters, double lr)
    {
        Step++;
        var b1 = (float)_options.Beta1;
        var b2 = (float)_options.Beta2;
        var oneMinusB1 = (float)(1 - _options.Beta1);
        var oneMinusB2 = (float)(1 - _options.Beta2);
        var stepSize = (float)(lr / (1 - Math.Pow(_options.Beta1, Step)));
        var correction2 = (float)Math.Sqrt(1 - Math.Pow(_options.Beta2, Step));
        var eps = (float)_options.Epsilon;
        var work = new List<(float[] P, float[] G, float[] M, float[] V, float Decay)>();
        foreach (var (name, p, g, decays) in parameters)
        {
            if (g.Length != p.Length)
                throw new ArgumentException($"The gradient of '{name}' has {g.Length} values, the parameter {p.Length}.");
            if (!_moments.TryGetValue(name, out var moments))
                _moments[name] = moments = (new float[p.Length], new float[p.Length]);
            work.Add((p, g, moments.M, moments.V, decays ? (float)(1 - lr * _options.WeightDecay) : 1f));
        }
        // Element-wise, so chunks run in parallel; vector lanes do the same float32 operations in the same order as
        // the scalar tail, so the result does not depend on the chunking or the vector width.
        Chunks.For(work.Select(w => w.P.Length), (t, start, end) =>
        {
            var (p, g, m, v, decay) = work[t];
            var i = start;
            if (Vector.IsHardwareAccelerated)
            {
                var count = Vector<float>.Count;
                for (; i + count <= end; i += count)
                {
                    var gi = new Vector<float>(g, i);
                    var mi = new Vector<float>(m, i) * b1 + gi * oneMinusB1;
                    var vi = new Vector<float>(v, i) * b2 + gi * gi * oneMinusB2;
                    var denom = Vector.SquareRoot(vi) / correction2 + new Vector<float>(eps);
                    var pi = new Vector<float>(p, i) * decay + -stepSize * (mi / denom);
                    mi.CopyTo(m, i);
                    vi.CopyTo(v, i);
                    pi.CopyTo(p, i);
                }
            }
            for (; i < end; i++)
            {
                p[i] *= decay;
                m[i] = m[i] * b1 + g[i] * oneMinusB1;
                v[i] = v[i] * b2 + g[i] * g[i] * oneMinusB2;
                var denom = MathF.Sqrt(v[i]) / correction2 + eps;
                p[i] += -stepSize * (m[i] / denom);
            }
        });
    }

    /// <summary>Restores the state saved with a checkpoint.</summary>
    public void Restore(int step, IReadOnlyDictionary<string, (float[] M, float[] V)> moments)
    {
        Step = step;
        _moments.Clear();
        foreach (var (name, mv) in moments)
            _moments[name] = (mv.M.ToArray(), mv.V.ToArray());
    }
}

/// <summary>Global-norm gradient clipping, as <c>torch.nn.utils.clip_grad_norm_</c>.</summary>
internal static class GradientClipping
{
    /// <summary>Scales all gradients by min(1, max_norm / (‖g‖ + 1e-6)) and returns the norm before clipping.</summary>
    public static double ClipByGlobalNorm(IReadOnlyList<float[]> gradients, double maxNorm)
    {
        // torch: the 2-norm of the per-tensor 2-norms, each tensor's norm rounded to float32. Chunk sums are added
        // in chunk order, so the norm does not depend on thread timing.
        var chunks = Chunks.Split(gradients.Select(g => g.Length));
        var partial = new double[chunks.Length];
        Parallel.For(0, chunks.Length, c => partial[c] = SumOfSquares(gradients[chunks[c].Array].AsSpan(chunks[c].Start, chunks[c].Length)));
        var tensors = new double[gradients.Count];
        for (var c = 0; c < chunks.Length; c++)
            tensors[chunks[c].Array] += partial[c];
        double sum = 0;
        foreach (var tensor in tensors)
        {
            var norm = (float)Math.Sqrt(tensor);
            sum += (double)norm * norm;
        }
        var total = (float)Math.Sqrt(sum);
        var coefficient = (float)Math.Min(1.0, maxNorm / (total + 1e-6));
        if (coefficient < 1f)
        {
            Parallel.For(0, chunks.Length, c =>
            {
                var g = gradients[chunks[c].Array].AsSpan(chunks[c].Start, chunks[c].Length);
                TensorPrimitives.Multiply(g, coefficient, g);
            });
        }
        return total;
    }

    // Σ x² in float64 (each square exact), vectorized.
    private static double SumOfSquares(ReadOnlySpan<float> x)
    {
        var acc = Vector<double>.Zero;
        var i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var floats = MemoryMarshal.Cast<float, Vector<float>>(x);
            foreach (var f in floats)
            {
                Vector.Widen(f, out var lo, out var hi);
                acc += lo * lo + hi * hi;
            }
            i = floats.Length * Vector<float>.Count;
        }
        var sum = Vector.Sum(acc);
        for (; i < x.Length; i++)
            sum += (double)x[i] * x[i];
        return sum;
    }
}

/// <summary>Splits element-wise work over several arrays into chunks that run in parallel.</summary>
internal static class Chunks
{
    private const int Size = 1 << 16;

    /// <summary>The chunks of arrays of the given lengths, array by array, in order.</summary>
    public static (int Array, int Start, int Length)[] Split(IEnumerable<int> lengths)
    {
        var chunks = new List<(int, int, int)>();
        var index = 0;
        foreach (var length in lengths)
        {
            for (var start = 0; start < length; start += Size)
                chunks.Add((index, start, Math.Min(Size, length - start)));
            index++;
        }
        return [.. chunks];
    }

    /// <summary>Calls <paramref name="body"/>(array index, start, end) for every chunk of every array, in parallel.</summary>
    public static void For(IEnumerable<int> lengths, Action<int, int, int> body)
    {
        var chunks = Split(lengths);
        Parallel.For(0, chunks.Length, c => body(chunks[c].Array, chunks[c].Start, chunks[c].Start + chunks[c].Length));
    }
}
