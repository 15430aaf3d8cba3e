namespace Nuansa.Evaluation;

/// <summary>One point of a precision–recall curve: inputs scoring at least <see cref="Threshold"/> count as the label.</summary>
public readonly record struct PrecisionRecallPoint(double Threshold, double Precision, double Recall, int TruePositives, int FalsePositives);

/// <summary>The precision–recall trade-off of one label's score, and the threshold that meets a target (alert thresholds).</summary>
public static class Thresholds
{
    /// <summary>
    /// scikit-learn's <c>precision_recall_curve</c> points, highest threshold first: one per distinct score, counting
    /// every input that scores at least it as predicted. Needs at least one positive.
    /// </summary>
    public static IReadOnlyList<PrecisionRecallPoint> Curve(IReadOnlyList<double> scores, IReadOnlyList<bool> positive)
    {
        if (scores.Count != positive.Count)
            throw new ArgumentException("One label per score.", nameof(positive));
        var total = positive.Count(p => p);
        if (total == 0)
            throw new NuansaException("The data has no example of the label, so its recall is undefined.");
        var order = Enumerable.Range(0, scores.Count).OrderByDescending(i => scores[i]).ToArray();
        var points = new List<PrecisionRecallPoint>();
        int tp = 0, fp = 0;
        for (var k = 0; k < order.Length; k++)
        {
            if (positive[order[k]])
                tp++;
            else
                fp++;
            // Ties share one point: the threshold admits all of them at once.
            if (k + 1 < order.Length && scores[order[k + 1]] == scores[order[k]])
                continue;
            points.Add(new PrecisionRecallPoint(scores[order[k]], (double)tp / (tp + fp), (double)tp / total, tp, fp));
        }
        return points;
    }

    /// <summary>
    /// The threshold meeting a target: for a precision target the lowest threshold that still reaches it (the most
    /// recall at that precision); for a recall target the highest that reaches it (the most precision). Null when no
    /// threshold does.
    /// </summary>
    public static PrecisionRecallPoint? Choose(IReadOnlyList<PrecisionRecallPoint> curve, double? targetPrecision, double? targetRecall)
    {
        if ((targetPrecision == null) == (targetRecall == null))
            throw new ArgumentException("Give one target: precision or recall.");
        if (targetPrecision is { } p)
            return curve.Where(c => c.Precision >= p).OrderBy(c => c.Threshold).Cast<PrecisionRecallPoint?>().FirstOrDefault();
        return curve.Where(c => c.Recall >= targetRecall!.Value).OrderByDescending(c => c.Threshold).Cast<PrecisionRecallPoint?>().FirstOrDefault();
    }
}
