namespace Nuansa.Evaluation;

/// <summary>
/// Multi-label metrics with scikit-learn's definitions on 0/1 indicator rows: subset accuracy (every label right),
/// Hamming loss (share of wrong label decisions), micro F1 (over all decisions) and macro F1 (mean of per-label F1).
/// </summary>
public sealed class MultiLabelMetrics
{
    private MultiLabelMetrics(double subset, double hamming, double micro, double macro, IReadOnlyList<ClassScores> perLabel)
    {
        SubsetAccuracy = subset;
        HammingLoss = hamming;
        F1Micro = micro;
        F1Macro = macro;
        PerLabel = perLabel;
    }

    /// <summary>Share of examples whose whole label set is predicted exactly.</summary>
    public double SubsetAccuracy { get; }

    /// <summary>Share of (example, label) decisions that are wrong.</summary>
    public double HammingLoss { get; }

    /// <summary>F1 of the (example, label) decisions pooled over all labels.</summary>
    public double F1Micro { get; }

    /// <summary>Unweighted mean of the labels' F1.</summary>
    public double F1Macro { get; }

    /// <summary>Precision, recall, F1 and support of each label.</summary>
    public IReadOnlyList<ClassScores> PerLabel { get; }

    /// <summary>Metrics by name: <c>subset_accuracy</c>, <c>hamming_loss</c>, <c>f1_micro</c>, <c>f1_macro</c>.</summary>
    public IReadOnlyDictionary<string, double> ByName => new Dictionary<string, double>
    {
        ["subset_accuracy"] = SubsetAccuracy, ["hamming_loss"] = HammingLoss, ["f1_micro"] = F1Micro, ["f1_macro"] = F1Macro,
    };

    /// <summary>The metrics.json object of a multi-label evaluation.</summary>
    public void WriteJson(System.Text.Json.Utf8JsonWriter json, IReadOnlyList<string> labels, int count)
    {
        json.WriteStartObject();
        json.WriteNumber("count", count);
        foreach (var (name, value) in ByName)
            json.WriteNumber(name, value);
        ClassScores.WriteAll(json, labels, PerLabel);
        json.WriteEndObject();
    }

    /// <summary>Scores predicted label sets against gold ones (one bool per label, same order in both).</summary>
    public static MultiLabelMetrics Compute(IReadOnlyList<bool[]> gold, IReadOnlyList<bool[]> predicted)
    {
        if (gold.Count != predicted.Count || gold.Count == 0)
            throw new ArgumentException("Gold and predicted rows must be equal in number and not empty.");
        var labels = gold[0].Length;
        int exact = 0, wrong = 0;
        var tp = new int[labels];
        var fp = new int[labels];
        var fn = new int[labels];
        for (var i = 0; i < gold.Count; i++)
        {
            var same = true;
            for (var c = 0; c < labels; c++)
            {
                var (g, p) = (gold[i][c], predicted[i][c]);
                if (g != p)
                {
                    same = false;
                    wrong++;
                }
                if (g && p)
                    tp[c]++;
                else if (p)
                    fp[c]++;
                else if (g)
                    fn[c]++;
            }
            if (same)
                exact++;
        }
        static double F1(int tp, int fp, int fn) => 2 * tp + fp + fn == 0 ? 0 : 2.0 * tp / (2 * tp + fp + fn);
        var perLabel = Enumerable.Range(0, labels).Select(c => new ClassScores(
            tp[c] + fp[c] == 0 ? 0 : (double)tp[c] / (tp[c] + fp[c]),
            tp[c] + fn[c] == 0 ? 0 : (double)tp[c] / (tp[c] + fn[c]),
            F1(tp[c], fp[c], fn[c]),
            tp[c] + fn[c])).ToArray();
        return new MultiLabelMetrics((double)exact / gold.Count, (double)wrong / (gold.Count * labels),
            F1(tp.Sum(), fp.Sum(), fn.Sum()), perLabel.Average(s => s.F1), perLabel);
    }
}
