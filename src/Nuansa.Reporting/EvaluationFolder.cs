using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Nuansa.Evaluation;

namespace Nuansa.Reporting;

/// <summary>
/// The folder <c>nuansa eval</c> writes for a <see cref="ModelEvaluation"/>: <c>metrics.json</c>,
/// <c>predictions.jsonl</c>, <c>report.md</c>, <c>report.html</c> and the charts, all or nothing.
/// </summary>
public static class EvaluationFolder
{
    /// <param name="output">A new (or empty) folder.</param>
    /// <param name="evaluation">What <see cref="ModelEvaluation.Evaluate"/> or <see cref="ModelEvaluation.ScorePredictions"/> measured.</param>
    /// <param name="title">The report's heading.</param>
    /// <param name="trainingLog">A model folder's trainer_log.jsonl, charted when it exists; null for none.</param>
    /// <param name="dataPath">The file evaluated, named in metrics.json with its size.</param>
    public static void Write(string output, ModelEvaluation evaluation, string title, string? trainingLog, string dataPath)
    {
        if (evaluation.MultiLabel is { } metrics)
            WriteMultiLabel(output, metrics, evaluation.Labels, evaluation.Count, evaluation.Predictions, title, trainingLog, dataPath);
        else
            WriteReports(output, evaluation.Reports, evaluation.Predictions, title, trainingLog, dataPath);
    }

    // report.md, and report.html with the same content and the charts embedded.
    private static void WriteMarkdownAndHtml(string folder, string markdown, string title)
    {
        File.WriteAllText(Path.Combine(folder, "report.md"), markdown);
        File.WriteAllText(Path.Combine(folder, HtmlReport.FileName), HtmlReport.Render(markdown, folder, title));
    }

    // metrics.json names the file evaluated and its size, for the model card.
    private static void WriteMetrics(string path, Action<Utf8JsonWriter> write, string dataPath)
    {
        var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
            write(json);
        var node = JsonNode.Parse(buffer.ToArray())!.AsObject();
        node["data"] = new JsonObject { ["file"] = Path.GetFileName(dataPath), ["bytes"] = new FileInfo(dataPath).Length };
        File.WriteAllText(path, node.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }) + "\n");
    }

    private static void WriteMultiLabel(string output, MultiLabelMetrics metrics, IReadOnlyList<string> labels, int count, string predictions, string title, string? trainingLog, string dataPath)
    {
        AtomicFolder.Write(output, staging =>
        {
            WriteMetrics(Path.Combine(staging, "metrics.json"), json => metrics.WriteJson(json, labels, count), dataPath);
            File.WriteAllText(Path.Combine(staging, "predictions.jsonl"), predictions);
            var text = new StringBuilder($"# {title}\n\n{count} examples; a label is predicted when its sigmoid score passes 0.5.\n\n| metric | value |\n| --- | --- |\n");
            foreach (var (name, value) in metrics.ByName)
                text.Append(FormattableString.Invariant($"| {name} | {value:0.0000} |\n"));
            text.Append("\n| label | precision | recall | F1 | support |\n| --- | --- | --- | --- | --- |\n");
            for (var c = 0; c < labels.Count; c++)
                text.Append(FormattableString.Invariant($"| {labels[c]} | {metrics.PerLabel[c].Precision:0.0000} | {metrics.PerLabel[c].Recall:0.0000} | {metrics.PerLabel[c].F1:0.0000} | {metrics.PerLabel[c].Support} |\n"));
            var chart = EvaluationCharts.PerLabel(labels, metrics, Path.Combine(staging, "per_label.png"));
            text.Append($"\n![per label]({Path.GetFileName(chart)})\n");
            if (trainingLog != null && EvaluationCharts.TrainingCurves(trainingLog, Path.Combine(staging, "training_curves.png")) is { } curves)
                text.Append($"\n![training curves]({Path.GetFileName(curves)})\n");
            WriteMarkdownAndHtml(staging, text.ToString(), title);
        });
    }

    private static void WriteReports(string output, IReadOnlyList<(string? Task, EvaluationReport Report)> reports, string predictions, string title, string? trainingLog, string dataPath)
    {
        AtomicFolder.Write(output, staging =>
        {
            WriteMetrics(Path.Combine(staging, "metrics.json"), json =>
            {
                if (reports is [(null, var single)])
                {
                    single.WriteJson(json);
                }
                else
                {
                    json.WriteStartObject();
                    json.WriteStartObject("tasks");
                    foreach (var (task, report) in reports)
                    {
                        json.WritePropertyName(task!);
                        report.WriteJson(json);
                    }
                    json.WriteEndObject();
                    json.WriteStartObject("overall");
                    foreach (var name in ClassificationMetrics.Names)
                        json.WriteNumber(name, reports.Average(r => r.Report.Metrics[name]));
                    json.WriteNumber("ece", reports.Average(r => r.Report.Ece));
                    json.WriteEndObject();
                    json.WriteEndObject();
                }
            }, dataPath);
            File.WriteAllText(Path.Combine(staging, "predictions.jsonl"), predictions);
            var markdown = new StringBuilder();
            foreach (var (task, report) in reports)
            {
                var prefix = task == null ? "" : $"{task}_";
                markdown.AppendLine(report.ToMarkdown(task == null ? title : $"{title}: {task}"));
                foreach (var chart in EvaluationCharts.Write(report, staging, prefix))
                    markdown.AppendLine($"![{Path.GetFileNameWithoutExtension(chart).Replace('_', ' ')}]({Path.GetFileName(chart)})").AppendLine();
            }
            if (trainingLog != null && EvaluationCharts.TrainingCurves(trainingLog, Path.Combine(staging, "training_curves.png")) is { } curves)
                markdown.AppendLine($"![training curves]({Path.GetFileName(curves)})");
            WriteMarkdownAndHtml(staging, markdown.ToString(), title);
        });
    }
}
