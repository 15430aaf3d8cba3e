using Nuansa.Evaluation;
using ScottPlot;

namespace Nuansa.Reporting;

/// <summary>PNG charts of an evaluation (with ScottPlot): confusion-matrix heat map, per-class scores, reliability diagram, training curves.</summary>
public static class EvaluationCharts
{
    private const int Width = 800;
    private const int Height = 600;

    /// <summary>Writes the charts of <paramref name="report"/> into <paramref name="folder"/> (file names prefixed for multi-task).</summary>
    public static IReadOnlyList<string> Write(EvaluationReport report, string folder, string prefix = "")
    {
        var files = new List<string>
        {
            ConfusionMatrix(report, Path.Combine(folder, $"{prefix}confusion_matrix.png")),
            PerClass(report.Labels, report.Metrics.PerClass, Path.Combine(folder, $"{prefix}per_class.png"), "Per-class precision, recall and F1"),
            Reliability(report, Path.Combine(folder, $"{prefix}reliability.png")),
        };
        return files;
    }

    private static string ConfusionMatrix(EvaluationReport report, string path)
    {
        var n = report.Labels.Count;
        var plot = new Plot();
        // The heat map draws row 0 (the first gold label) at the top, as confusion matrices are read; the y axis
        // counts upwards, so row t sits at y = n − 1 − t.
        var values = new double[n, n];
        for (var t = 0; t < n; t++)
        {
            for (var p = 0; p < n; p++)
                values[t, p] = report.Metrics.Confusion[t, p];
        }
        var heatmap = plot.Add.Heatmap(values);
        // Darker is more, as confusion matrices are usually drawn (ScottPlot's Blues runs the other way).
        heatmap.Colormap = new Reversed(new ScottPlot.Colormaps.Blues());
        var bar = plot.Add.ColorBar(heatmap);
        bar.Axis.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true };
        var max = values.Cast<double>().DefaultIfEmpty(0).Max();
        for (var t = 0; t < n; t++)
        {
            for (var p = 0; p < n; p++)
            {
                var text = plot.Add.Text(values[t, p].ToString("0", System.Globalization.CultureInfo.InvariantCulture), p, n - 1 - t);
                text.LabelFontSize = 16;
                text.LabelAlignment = Alignment.MiddleCenter;
                text.LabelFontColor = values[t, p] > max / 2 ? Colors.White : Colors.Black;
            }
        }
        var positions = Enumerable.Range(0, n).Select(i => (double)i).ToArray();
        plot.Axes.Bottom.SetTicks(positions, [.. report.Labels]);
        plot.Axes.Left.SetTicks(positions, [.. report.Labels.Reverse()]);
        plot.Axes.Margins(0, 0);
        return Save(plot, path, "Confusion matrix", "predicted label", "gold label");
    }

    /// <summary>A multi-label evaluation's chart: precision, recall and F1 of each label (predicted when its sigmoid passes 0.5).</summary>
    public static string PerLabel(IReadOnlyList<string> labels, MultiLabelMetrics metrics, string path) =>
        PerClass(labels, metrics.PerLabel, path, "Per-label precision, recall and F1 (sigmoid > 0.5)");

    private static string PerClass(IReadOnlyList<string> labels, IReadOnlyList<ClassScores> perClass, string path, string title)
    {
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        string[] series = ["precision", "recall", "F1"];
        var bars = new List<Bar>();
        for (var c = 0; c < labels.Count; c++)
        {
            var scores = perClass[c];
            double[] values = [scores.Precision, scores.Recall, scores.F1];
            for (var s = 0; s < 3; s++)
                bars.Add(new Bar { Position = c * 4 + s, Value = values[s], FillColor = palette.GetColor(s) });
        }
        plot.Add.Bars(bars);
        for (var s = 0; s < 3; s++)
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = series[s], FillColor = palette.GetColor(s) });
        plot.ShowLegend(Alignment.UpperRight);
        plot.Axes.Bottom.SetTicks([.. Enumerable.Range(0, labels.Count).Select(c => c * 4 + 1.0)], [.. labels]);
        plot.Axes.SetLimitsY(0, 1.15);
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericFixedInterval(0.1);
        return Save(plot, path, title, null, "score");
    }

    private static string Reliability(EvaluationReport report, string path)
    {
        var plot = new Plot();
        var diagonal = plot.Add.Line(0, 0, 1, 1);
        diagonal.LinePattern = LinePattern.Dashed;
        diagonal.LegendText = "perfect calibration";
        if (report.Reliability.Count > 0)
        {
            var points = plot.Add.Scatter(report.Reliability.Select(b => b.Confidence).ToArray(), report.Reliability.Select(b => b.Accuracy).ToArray());
            points.MarkerSize = 9;
            points.LegendText = "model (one point per confidence bin)";
        }
        plot.ShowLegend(Alignment.UpperLeft);
        plot.Axes.SetLimits(0, 1, 0, 1);
        return Save(plot, path, string.Create(System.Globalization.CultureInfo.InvariantCulture, $"Reliability diagram (ECE {report.Ece:0.000})"), "mean top-1 confidence", "accuracy");
    }

    /// <summary>Training loss per step and evaluation metrics per evaluation, from a trainer_log.jsonl.</summary>
    public static string? TrainingCurves(string logPath, string path)
    {
        if (!File.Exists(logPath))
            return null;
        var steps = new List<double>();
        var losses = new List<double>();
        var evalSteps = new List<double>();
        var evalLosses = new List<double>();
        foreach (var line in File.ReadLines(logPath))
        {
            using var json = System.Text.Json.JsonDocument.Parse(line);
            var e = json.RootElement;
            if (!e.TryGetProperty("step", out var step))
                continue;
            if (e.TryGetProperty("loss", out var loss) && loss.ValueKind == System.Text.Json.JsonValueKind.Number)
            {
                steps.Add(step.GetDouble());
                losses.Add(loss.GetDouble());
            }
            if (e.TryGetProperty("eval_loss", out var evalLoss))
            {
                evalSteps.Add(step.GetDouble());
                evalLosses.Add(evalLoss.GetDouble());
            }
        }
        if (steps.Count == 0)
            return null;
        var plot = new Plot();
        var train = plot.Add.ScatterLine(steps.ToArray(), losses.ToArray());
        train.LegendText = "training loss";
        train.Color = train.Color.WithAlpha(0.35);
        // A moving average over about 2% of the steps shows the trend through per-batch noise.
        var window = Math.Max(1, steps.Count / 50);
        var smoothed = losses.Select((_, i) => losses.Skip(Math.Max(0, i - window + 1)).Take(Math.Min(window, i + 1)).Average()).ToArray();
        var trend = plot.Add.ScatterLine(steps.ToArray(), smoothed);
        trend.LegendText = $"training loss, mean of {window} steps";
        trend.LineWidth = 2;
        if (evalSteps.Count > 0)
        {
            var evaluation = plot.Add.Scatter(evalSteps.ToArray(), evalLosses.ToArray());
            evaluation.LegendText = "evaluation loss";
            evaluation.MarkerSize = 9;
        }
        plot.ShowLegend(Alignment.UpperRight);
        return Save(plot, path, "Training curves", "optimizer step", "loss");
    }

    /// <summary>Precision against recall for each label, with the chosen threshold marked.</summary>
    public static string PrecisionRecall(IReadOnlyList<(string Label, IReadOnlyList<PrecisionRecallPoint> Curve, PrecisionRecallPoint? Chosen)> labels, string path)
    {
        var plot = new Plot();
        foreach (var (label, curve, chosen) in labels)
        {
            var line = plot.Add.ScatterLine(curve.Select(c => c.Recall).ToArray(), curve.Select(c => c.Precision).ToArray());
            line.LegendText = label;
            line.LineWidth = 2;
            if (chosen is { } c)
            {
                var mark = plot.Add.Scatter(new[] { c.Recall }, new[] { c.Precision });
                mark.MarkerSize = 11;
                mark.Color = line.Color;
                mark.LegendText = FormattableString.Invariant($"{label} at {c.Threshold:0.###}");
            }
        }
        plot.Axes.SetLimits(0, 1.02, 0, 1.02);
        plot.ShowLegend(Alignment.LowerLeft);
        return Save(plot, path, "Precision–recall by threshold", "recall", "precision");
    }

    // Every chart ends the same way: its title, axis labels, and the PNG at the common size.
    private static string Save(Plot plot, string path, string title, string? xLabel, string yLabel)
    {
        plot.Title(title);
        if (xLabel != null)
            plot.XLabel(xLabel);
        plot.YLabel(yLabel);
        plot.SavePng(path, Width, Height);
        return path;
    }

    private sealed class Reversed(IColormap colormap) : IColormap
    {
        public string Name => colormap.Name + " (reversed)";

        public Color GetColor(double position) => colormap.GetColor(1 - position);
    }
}
