namespace Nuansa.Inference;

/// <summary>How <see cref="Uncertainty"/> scores a prediction, as active-learning toolkits (modAL, small-text) name them.</summary>
public enum UncertaintyStrategy
{
    /// <summary>Shannon entropy of the label distribution, in nats.</summary>
    Entropy,

    /// <summary>1 − (best score − second-best score): high when the top two labels are close.</summary>
    Margin,

    /// <summary>1 − the best label's score.</summary>
    LeastConfidence,
}

/// <summary>
/// Uncertainty sampling for active learning, as the emotion card recommends: rank unlabelled texts so that the
/// ones the model is least sure about are annotated first. Scores need every label's probability
/// (<see cref="ClassifyOptions.TopK"/> = null, softmax or sigmoid scores).
/// </summary>
public static class Uncertainty
{
    /// <summary>
    /// The uncertainty of one prediction. Multi-task: the mean over tasks. Multi-label (sigmoid scores): the mean over
    /// labels of each label's own yes/no uncertainty.
    /// </summary>
    public static double Score(Classification c, UncertaintyStrategy strategy) => c switch
    {
        MultiTaskClassification m => m.Tasks.Values.Average(labels => OfDistribution([.. labels.Select(l => (double)l.Score)], strategy)),
        MultiLabelClassification => c.Labels.Average(l => OfDistribution([l.Score, 1.0 - l.Score], strategy)),
        _ => OfDistribution([.. c.Labels.Select(l => (double)l.Score)], strategy),
    };

    /// <summary>Indices of <paramref name="results"/>, most uncertain first (ties keep input order).</summary>
    public static IReadOnlyList<(int Index, double Score)> Rank(IReadOnlyList<Classification> results, UncertaintyStrategy strategy) =>
        [.. results.Select((c, i) => (Index: i, Score: Score(c, strategy))).OrderByDescending(x => x.Score).ThenBy(x => x.Index)];

    private static double OfDistribution(double[] p, UncertaintyStrategy strategy)
    {
        if (p.Length == 0)
            throw new ArgumentException("A prediction without scores has no uncertainty.");
        var sorted = p.OrderDescending().ToArray();
        return strategy switch
        {
            UncertaintyStrategy.Entropy => -p.Where(x => x > 0).Sum(x => x * Math.Log(x)),
            UncertaintyStrategy.Margin => 1 - (sorted[0] - (sorted.Length > 1 ? sorted[1] : 0)),
            _ => 1 - sorted[0],
        };
    }
}
