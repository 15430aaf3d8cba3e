namespace Nuansa.Training;

/// <summary>Learning-rate schedules with warm-up, as HF's <c>get_scheduler</c> names them.</summary>
public enum ScheduleType
{
    /// <summary>Warm-up, then linear decay to 0 (HF's default).</summary>
    Linear,

    /// <summary>Warm-up, then half a cosine down to 0.</summary>
    Cosine,

    /// <summary>The learning rate throughout, no warm-up.</summary>
    Constant,

    /// <summary>Warm-up, then the learning rate.</summary>
    ConstantWithWarmup,
}

/// <summary>
/// The multiplier of the base learning rate for each optimizer step, as HF's schedulers compute it. Step k
/// (counting from 1) uses the multiplier of k − 1, because the scheduler steps after the optimizer.
/// </summary>
internal sealed class LearningRateSchedule(ScheduleType type, int warmupSteps, int totalSteps)
{
    public ScheduleType Type { get; } = type;
    public int WarmupSteps { get; } = warmupSteps;
    public int TotalSteps { get; } = totalSteps;

    /// <summary>The learning rate of optimizer step <paramref name="step"/> (1-based).</summary>
    public double LearningRate(double baseRate, int step) => baseRate * Multiplier(step - 1);

    /// <summary>HF's lr_lambda at scheduler step <paramref name="s"/>.</summary>
    public double Multiplier(int s)
    {
        if (Type == ScheduleType.Constant)
            return 1.0;
        if (s < WarmupSteps)
            return (double)s / Math.Max(1, WarmupSteps);
        var progress = (double)(s - WarmupSteps) / Math.Max(1, TotalSteps - WarmupSteps);
        return Type switch
        {
            ScheduleType.Linear => Math.Max(0.0, (double)(TotalSteps - s) / Math.Max(1, TotalSteps - WarmupSteps)),
            ScheduleType.Cosine => Math.Max(0.0, 0.5 * (1.0 + Math.Cos(Math.PI * 0.5 * 2.0 * progress))),
            _ => 1.0,
        };
    }

    /// <summary>Warm-up steps from a ratio of the total, as HF's <c>warmup_ratio</c> (rounded up).</summary>
    public static int WarmupFromRatio(double ratio, int totalSteps) => (int)Math.Ceiling(ratio * totalSteps);
}
