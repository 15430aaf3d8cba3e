namespace Nuansa.Training;

/// <summary>AdamW's hyper-parameters, with HF <c>TrainingArguments</c>' defaults.</summary>
public sealed record AdamWOptions
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
public sealed class AdamW
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
        foreach (var (name, p, g, decays) in parameters)
        {
            if (!_moments.TryGetValue(name, out var moments))
                _moments[name] = moments = (new float[p.Length], new float[p.Length]);
            var (m, v) = moments;
            var decay = decays ? (float)(1 - lr * _options.WeightDecay) : 1f;
            for (var i = 0; i < p.Length; i++)
            {
                p[i] *= decay;
                m[i] = m[i] * b1 + g[i] * oneMinusB1;
                v[i] = v[i] * b2 + g[i] * g[i] * oneMinusB2;
                var denom = MathF.Sqrt(v[i]) / correction2 + eps;
                p[i] += -stepSize * (m[i] / denom);
            }
        }
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
public static class GradientClipping
{
    /// <summary>Scales all gradients by min(1, max_norm / (‖g‖ + 1e-6)) and returns the norm before clipping.</summary>
    public static double ClipByGlobalNorm(IReadOnlyList<float[]> gradients, double maxNorm)
    {
        // torch: the 2-norm of the per-tensor 2-norms, each computed in float32.
        double sum = 0;
        foreach (var g in gradients)
        {
            var norm = (float)Math.Sqrt(g.Sum(x => (double)x * x));
            sum += (double)norm * norm;
        }
        var total = (float)Math.Sqrt(sum);
        var coefficient = (float)Math.Min(1.0, maxNorm / (total + 1e-6));
        if (coefficient < 1f)
        {
            foreach (var g in gradients)
            {
                for (var i = 0; i < g.Length; i++)
                    g[i] *= coefficient;
            }
        }
        return total;
    }
}
