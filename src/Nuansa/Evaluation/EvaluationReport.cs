using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Nuansa.Evaluation;

/// <summary>Options of an evaluation report.</summary>
public sealed record EvaluationOptions
{
    /// <summary>Bootstrap resamples for the 95% intervals of the headline metrics; 0 skips them.</summary>
    public int BootstrapResamples { get; init; } = 1000;

    /// <summary>Seed of the bootstrap resampling.</summary>
    public int Seed { get; init; } = 42;

    /// <summary>Equal-width confidence bins of the expected calibration error.</summary>
    public int CalibrationBins { get; init; } = 10;
}

/// <summary>
/// The scores of a single-label classifier on labelled data: <see cref="ClassificationMetrics"/>, 95% bootstrap
/// intervals (percentile method, seeded) of accuracy, macro F1 and weighted F1, and the expected calibration
/// error of the top-1 confidence. Written as <c>metrics.json</c> with scikit-learn / HF <c>evaluate</c> names.
/// </summary>
public sealed class EvaluationReport
{
    /// <summary>The metrics the bootstrap intervals are computed for.</summary>
    public static readonly IReadOnlyList<string> HeadlineMetrics = ["accuracy", "f1_macro", "f1_weighted"];

    private EvaluationReport(IReadOnlyList<string> labels, ClassificationMetrics metrics, IReadOnlyDictionary<string, (double Low, double High)> bootstrap,
        double ece, IReadOnlyList<(double Confidence, double Accuracy, int Count)> reliability)
    {
        Labels = labels;
        Metrics = metrics;
        Bootstrap = bootstrap;
        Ece = ece;
        Reliability = reliability;
    }

    /// <summary>Label names by id.</summary>
    public IReadOnlyList<string> Labels { get; }

    /// <summary>The point estimates.</summary>
    public ClassificationMetrics Metrics { get; }

    /// <summary>95% bootstrap intervals of the <see cref="HeadlineMetrics"/>; empty when no resamples were asked for.</summary>
    public IReadOnlyDictionary<string, (double Low, double High)> Bootstrap { get; }

    /// <summary>Expected calibration error: Σ over bins of (bin share) · |accuracy − mean confidence|.</summary>
    public double Ece { get; }

    /// <summary>Per confidence bin: mean confidence, accuracy and count (the reliability diagram's points).</summary>
    public IReadOnlyList<(double Confidence, double Accuracy, int Count)> Reliability { get; }

    /// <summary>
    /// The metrics of each subgroup of the data (a column such as language, source or a demographic attribute), for the
    /// bias audit the IMDb card recommends; empty unless <see cref="WithGroups"/> was called.
    /// </summary>
    public IReadOnlyList<(string Group, ClassificationMetrics Metrics)> Groups { get; private init; } = [];

    /// <summary>This report with the metrics of each value of <paramref name="groups"/> (one per example, same order as gold).</summary>
    public EvaluationReport WithGroups(IReadOnlyList<string> groups, IReadOnlyList<int> gold, IReadOnlyList<int> predicted)
    {
        if (groups.Count != gold.Count || predicted.Count != gold.Count)
            throw new ArgumentException("One group per example is needed.");
        var split = Enumerable.Range(0, gold.Count).GroupBy(i => groups[i], StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal);
        return new EvaluationReport(Labels, Metrics, Bootstrap, Ece, Reliability)
        {
            Groups = [.. split.Select(g => (g.Key, ClassificationMetrics.Compute([.. g.Select(i => gold[i])], [.. g.Select(i => predicted[i])], Labels.Count)))],
        };
    }

    /// <param name="labels">Label names by id.</param>
    /// <param name="gold">Gold label ids.</param>
    /// <param name="predicted">Predicted label ids.</param>
    /// <param name="confidence">The score of each predicted label (for calibration).</param>
    /// <param name="options">Bootstrap and calibration settings.</param>
    public static EvaluationReport Compute(IReadOnlyList<string> labels, IReadOnlyList<int> gold, IReadOnlyList<int> predicted,
        IReadOnlyList<double> confidence, EvaluationOptions? options = null)
    {
        options ??= new EvaluationOptions();
        if (gold.Count == 0)
            throw new NuansaException("Nothing to evaluate: no labelled examples.");
        var metrics = ClassificationMetrics.Compute(gold, predicted, labels.Count);
        var bootstrap = new Dictionary<string, (double, double)>();
        if (options.BootstrapResamples > 0)
        {
            var random = new Random(options.Seed);
            var samples = HeadlineMetrics.ToDictionary(m => m, _ => new List<double>());
            var g = new int[gold.Count];
            var p = new int[gold.Count];
            for (var r = 0; r < options.BootstrapResamples; r++)
            {
                for (var i = 0; i < g.Length; i++)
                {
                    var k = random.Next(g.Length);
                    g[i] = gold[k];
                    p[i] = predicted[k];
                }
                var m = ClassificationMetrics.Compute(g, p, labels.Count);
                foreach (var name in HeadlineMetrics)
                    samples[name].Add(m[name]);
            }
            foreach (var (name, values) in samples)
                bootstrap[name] = (Percentile(values, 2.5), Percentile(values, 97.5));
        }
        var (ece, bins) = Calibration(gold, predicted, confidence, options.CalibrationBins);
        return new EvaluationReport(labels, metrics, bootstrap, ece, bins);
    }

    /// <summary>numpy's default (linear) percentile of a sample.</summary>
    internal static double Percentile(List<double> values, double percent)
    {
        var sorted = values.Order().ToArray();
        var position = percent / 100 * (sorted.Length - 1);
        var lower = (int)Math.Floor(position);
        var upper = Math.Min(lower + 1, sorted.Length - 1);
        return sorted[lower] + (position - lower) * (sorted[upper] - sorted[lower]);
    }

    internal static (double Ece, List<(double, double, int)> Bins) Calibration(IReadOnlyList<int> gold, IReadOnlyList<int> predicted, IReadOnlyList<double> confidence, int binCount)
    {
        var sums = new double[binCount];
        var correct = new int[binCount];
        var counts = new int[binCount];
        for (var i = 0; i < gold.Count; i++)
        {
            // Bins (0, 1/B], (1/B, 2/B], ...: a confidence on an edge belongs to the lower bin.
            var bin = Math.Clamp((int)Math.Ceiling(confidence[i] * binCount) - 1, 0, binCount - 1);
            sums[bin] += confidence[i];
            counts[bin]++;
            if (gold[i] == predicted[i])
                correct[bin]++;
        }
        double ece = 0;
        var bins = new List<(double, double, int)>();
        for (var b = 0; b < binCount; b++)
        {
            if (counts[b] == 0)
                continue;
            var meanConfidence = sums[b] / counts[b];
            var accuracy = (double)correct[b] / counts[b];
            ece += (double)counts[b] / gold.Count * Math.Abs(accuracy - meanConfidence);
            bins.Add((meanConfidence, accuracy, counts[b]));
        }
        return (ece, bins);
    }

    /// <summary>The metrics.json object (keys as documented in the README).</summary>
    public void WriteJson(Utf8JsonWriter json)
    {
        var m = Metrics;
        json.WriteStartObject();
        json.WriteNumber("count", m.Count);
        json.WriteNumber("accuracy", m.Accuracy);
        json.WriteNumber("precision_macro", m.PrecisionMacro);
        json.WriteNumber("recall_macro", m.RecallMacro);
        json.WriteNumber("f1_macro", m.F1Macro);
        json.WriteNumber("f1_weighted", m.F1Weighted);
        json.WriteNumber("f1_micro", m.F1Micro);
        json.WriteNumber("mcc", m.Mcc);
        ClassScores.WriteAll(json, Labels, m.PerClass);
        json.WriteStartObject("confusion_matrix");
        json.WriteStartArray("labels");
        foreach (var l in Labels)
            json.WriteStringValue(l);
        json.WriteEndArray();
        json.WriteStartArray("matrix");
        for (var t = 0; t < Labels.Count; t++)
        {
            json.WriteStartArray();
            for (var p = 0; p < Labels.Count; p++)
                json.WriteNumberValue(m.Confusion[t, p]);
            json.WriteEndArray();
        }
        json.WriteEndArray();
        json.WriteEndObject();
        json.WriteStartObject("bootstrap");
        foreach (var (name, (low, high)) in Bootstrap)
        {
            json.WriteStartObject(name);
            json.WriteNumber("low", low);
            json.WriteNumber("high", high);
            json.WriteEndObject();
        }
        json.WriteEndObject();
        json.WriteNumber("ece", Ece);
        if (Groups.Count > 0)
        {
            json.WriteStartObject("groups");
            foreach (var (group, g) in Groups)
            {
                json.WriteStartObject(group);
                json.WriteNumber("count", g.Count);
                foreach (var name in ClassificationMetrics.Names)
                    json.WriteNumber(name, g[name]);
                json.WriteEndObject();
            }
            json.WriteEndObject();
        }
        json.WriteEndObject();
    }

    /// <summary>A Markdown report: headline metrics with intervals, per-class table, confusion matrix, calibration.</summary>
    public string ToMarkdown(string title)
    {
        var inv = CultureInfo.InvariantCulture;
        var m = Metrics;
        var text = new StringBuilder();
        text.AppendLine(inv, $"# {title}").AppendLine();
        text.AppendLine(inv, $"{m.Count} examples.").AppendLine();
        text.AppendLine("| metric | value | 95% bootstrap interval |").AppendLine("| --- | --- | --- |");
        foreach (var name in ClassificationMetrics.Names)
        {
            var interval = Bootstrap.TryGetValue(name, out var b) ? string.Create(inv, $"{b.Low:0.0000} – {b.High:0.0000}") : "";
            text.AppendLine(inv, $"| {name} | {m[name]:0.0000} | {interval} |");
        }
        text.AppendLine(inv, $"| ece | {Ece:0.0000} | |").AppendLine();
        text.AppendLine("| label | precision | recall | F1 | support |").AppendLine("| --- | --- | --- | --- | --- |");
        for (var c = 0; c < Labels.Count; c++)
            text.AppendLine(inv, $"| {Labels[c]} | {m.PerClass[c].Precision:0.0000} | {m.PerClass[c].Recall:0.0000} | {m.PerClass[c].F1:0.0000} | {m.PerClass[c].Support} |");
        text.AppendLine().AppendLine("Confusion matrix (rows: gold, columns: predicted):").AppendLine();
        text.AppendLine("| gold \\ predicted | " + string.Join(" | ", Labels) + " |");
        text.AppendLine("| --- |" + string.Concat(Enumerable.Repeat(" --- |", Labels.Count)));
        for (var t = 0; t < Labels.Count; t++)
            text.AppendLine($"| {Labels[t]} | " + string.Join(" | ", Enumerable.Range(0, Labels.Count).Select(p => m.Confusion[t, p].ToString(inv))) + " |");
        text.AppendLine().AppendLine("Calibration (top-1 confidence bins):").AppendLine();
        text.AppendLine("| mean confidence | accuracy | examples |").AppendLine("| --- | --- | --- |");
        foreach (var (confidence, accuracy, count) in Reliability)
            text.AppendLine(inv, $"| {confidence:0.000} | {accuracy:0.000} | {count} |");
        if (Groups.Count > 0)
        {
            // Gaps between groups are what a bias audit looks for; small groups have wide error bars.
            text.AppendLine().AppendLine("By group:").AppendLine();
            text.AppendLine("| group | examples | accuracy | f1_macro | f1_weighted | mcc |").AppendLine("| --- | --- | --- | --- | --- | --- |");
            foreach (var (group, g) in Groups)
                text.AppendLine(inv, $"| {group} | {g.Count} | {g.Accuracy:0.0000} | {g.F1Macro:0.0000} | {g.F1Weighted:0.0000} | {g.Mcc:0.0000} |");
        }
        return text.ToString();
    }
}
