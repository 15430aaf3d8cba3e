using System.CommandLine;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Nuansa.Data;
using Nuansa.Evaluation;
using Nuansa.Inference;
using Nuansa.Reporting;

namespace Nuansa.Cli;

/// <summary>
/// <c>nuansa eval --model DIR --data F --output DIR</c>, or <c>nuansa eval --predictions F --output DIR</c>:
/// metrics.json, predictions.jsonl and report.md for single-label and multi-task classifiers.
/// </summary>
internal static class EvalCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model", "-m") { Description = "Checkpoint folder to evaluate on --data." };
        var data = new Option<string?>("--data") { Description = "Labelled data: CSV, TSV or JSON Lines." };
        var predictions = new Option<string?>("--predictions") { Description = "Score an existing predictions file (nuansa classify output plus the gold \"label\")." };
        var output = new Option<string>("--output", "-o") { Description = "Folder for metrics.json, predictions.jsonl, report.md and report.html (must not exist or be empty).", Required = true };
        var textColumn = new Option<string>("--text-column") { DefaultValueFactory = _ => "text" };
        var pairColumn = new Option<string>("--pair-column") { DefaultValueFactory = _ => "text_pair" };
        var labelColumn = new Option<string>("--label-column") { DefaultValueFactory = _ => "label" };
        var bootstrap = new Option<int>("--bootstrap") { Description = "Bootstrap resamples for the 95% intervals (0: none).", DefaultValueFactory = _ => 1000 };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 42 };
        var batchSize = new Option<int>("--batch-size") { DefaultValueFactory = _ => 32 };
        var maxLength = new Option<int?>("--max-length");
        var precision = PrecisionOptions.ForRunning();
        var tasks = new TaskOptions();
        var longText = new LongTextOptions();
        var groupColumn = new Option<string?>("--group-column") { Description = "Also report the metrics of each value of this column (language, source, demographic group): a bias audit." };
        var command = new Command("eval", "Evaluate a classifier on labelled data (or score a predictions file): metrics.json, predictions.jsonl, report.md, report.html.")
        {
            model, data, predictions, output, textColumn, pairColumn, labelColumn, bootstrap, seed, batchSize, maxLength, precision.Quantize, precision.Int8Weights, longText.LongText, longText.Stride, longText.Aggregate, tasks.Tasks, tasks.TaskLabels, groupColumn,
        };
        command.SetAction(parse => Program.Guard(parse, stdout =>
        {
            AtomicFolder.CheckWritable(parse.GetValue(output)!);
            var options = new EvaluationOptions { BootstrapResamples = parse.GetValue(bootstrap), Seed = parse.GetValue(seed) };
            List<(string? Task, EvaluationReport Report)> reports;
            string predictionLines;
            string title;
            string? modelPath = null;
            if (parse.GetValue(predictions) is { } file)
            {
                if (parse.GetValue(model) != null || parse.GetValue(data) != null)
                    throw new NuansaException("Give either --predictions, or --model with --data.");
                (reports, predictionLines) = ScorePredictions(file, options);
                title = $"Evaluation of {Path.GetFileName(file)}";
            }
            else
            {
                modelPath = CliParsing.Model(parse, parse.GetValue(model) ?? throw new NuansaException("Give --model and --data, or --predictions."));
                var dataPath = parse.GetValue(data) ?? throw new NuansaException("--model needs --data (labelled examples).");
                title = $"Evaluation of {Path.GetFileName(Path.GetFullPath(modelPath).TrimEnd('/'))} on {Path.GetFileName(dataPath)}";
                using var classifier = TextClassifier.Load(modelPath, precision.Apply(parse, new TextClassifierOptions { Tasks = tasks.Read(parse) }));
                CliParsing.ReportPrecision(parse, classifier);
                var rows = TableReader.Read(dataPath);
                var inputs = rows.Select(r => new TextInput(r.Text(parse.GetValue(textColumn)!, dataPath),
                    r.Fields.ContainsKey(parse.GetValue(pairColumn)!) ? r.OptionalText(parse.GetValue(pairColumn)!, dataPath) : null)).ToArray();
                var results = classifier.ClassifyBatch(inputs, longText.Apply(parse, new ClassifyOptions { TopK = null, BatchSize = parse.GetValue(batchSize), MaxLength = parse.GetValue(maxLength) }));
                // Tasks given (or in the config) make it multi-task, whatever problem_type the config names.
                if (classifier.Tasks == null && classifier.Config.ProblemType == "multi_label_classification")
                {
                    var (metrics, lines) = EvaluateMultiLabel(classifier, rows, results, parse.GetValue(labelColumn)!, dataPath);
                    WriteMultiLabel(parse.GetValue(output)!, metrics, classifier.Labels, rows.Count, lines, title, Path.Combine(modelPath, Training.Trainer.LogFileName), dataPath);
                    stdout.WriteLine(FormattableString.Invariant(
                        $"subset_accuracy {metrics.SubsetAccuracy:0.0000}  hamming_loss {metrics.HammingLoss:0.0000}  f1_micro {metrics.F1Micro:0.0000}  f1_macro {metrics.F1Macro:0.0000}  ({rows.Count} examples)"));
                    stdout.WriteLine($"wrote {parse.GetValue(output)}");
                    return 0;
                }
                (reports, predictionLines) = EvaluateModel(classifier, rows, results, parse.GetValue(labelColumn)!, dataPath, options, parse.GetValue(groupColumn));
            }
            // The folder already resolved above (a Hub id is not looked up twice).
            var trainingLog = modelPath != null ? Path.Combine(modelPath, Training.Trainer.LogFileName) : null;
            Write(parse.GetValue(output)!, reports, predictionLines, title, trainingLog, parse.GetValue(predictions) ?? parse.GetValue(data)!);
            var main = reports.Count == 1 ? reports[0].Report.Metrics : null;
            stdout.WriteLine(main != null
                ? FormattableString.Invariant($"accuracy {main.Accuracy:0.0000}  f1_macro {main.F1Macro:0.0000}  f1_weighted {main.F1Weighted:0.0000}  mcc {main.Mcc:0.0000}  ({main.Count} examples)")
                : FormattableString.Invariant($"{reports.Count} tasks: mean accuracy {reports.Average(r => r.Report.Metrics.Accuracy):0.0000}  mean f1_macro {reports.Average(r => r.Report.Metrics.F1Macro):0.0000}"));
            if (main == null)
            {
                // One compact line per task, aligned, instead of every number on one line.
                var width = Math.Max(4, reports.Max(r => r.Task?.Length ?? 0));
                stdout.WriteLine($"  {"task".PadRight(width)}  accuracy  f1_macro  f1_weighted  examples");
                foreach (var (task, report) in reports)
                {
                    var t = report.Metrics;
                    stdout.WriteLine(FormattableString.Invariant($"  {(task ?? "").PadRight(width)}  {t.Accuracy,8:0.0000}  {t.F1Macro,8:0.0000}  {t.F1Weighted,11:0.0000}  {t.Count,8}"));
                }
            }
            stdout.WriteLine($"wrote {parse.GetValue(output)}");
            return 0;
        }));
        return command;
    }

    // A label is predicted when its sigmoid score passes 0.5, as HF's pipeline reads multi-label outputs.
    private static (MultiLabelMetrics, string) EvaluateMultiLabel(TextClassifier classifier, IReadOnlyList<DataRow> rows, IReadOnlyList<Classification> results,
        string labelColumn, string dataPath)
    {
        var labels = classifier.Labels;
        var gold = rows.Select(r => r.LabelSet(labelColumn, labels, dataPath)).ToArray();
        var predicted = results.Select(r => labels.Select(l => r.Labels.Single(s => s.Label == l).Score > 0.5f).ToArray()).ToArray();
        var lines = JsonLines.Format(Enumerable.Range(0, rows.Count), (json, i) =>
        {
            json.WriteStartObject();
            json.WriteNumber("line", rows[i].Line);
            ClassifyCommand.WriteLabels(json, "labels", results[i].Labels);
            json.WriteStartArray("label");
            for (var c = 0; c < labels.Count; c++)
            {
                if (gold[i][c])
                    json.WriteStringValue(labels[c]);
            }
            json.WriteEndArray();
            json.WriteEndObject();
        });
        return (MultiLabelMetrics.Compute(gold, predicted), lines);
    }

    private static (List<(string?, EvaluationReport)>, string) EvaluateModel(TextClassifier classifier, IReadOnlyList<DataRow> rows, IReadOnlyList<Classification> results,
        string labelColumn, string dataPath, EvaluationOptions options, string? groupColumn)
    {
        if (groupColumn != null && !rows.Any(r => r.Fields.ContainsKey(groupColumn)))
            throw new NuansaException($"{dataPath}: no column \"{groupColumn}\" for --group-column.");
        // A group cell may be text or a number; an empty or missing one is its own group, "(none)".
        string Group(DataRow r) =>
            r.Fields.TryGetValue(groupColumn!, out var v) && v.ValueKind != System.Text.Json.JsonValueKind.Null
            && (v.ValueKind == System.Text.Json.JsonValueKind.String ? v.GetString()! : v.ToString()) is { Length: > 0 } g ? g : "(none)";
        var groups = groupColumn == null ? null : rows.Select(Group).ToArray();
        var heads = classifier.Tasks ?? [new TaskHead(labelColumn, classifier.Labels)];
        var gold = heads.Select(h => rows.Select(r => r.LabelId(classifier.Tasks != null ? h.Name : labelColumn, h.Labels, dataPath)).ToArray()).ToArray();
        var reports = new List<(string?, EvaluationReport)>();
        for (var t = 0; t < heads.Count; t++)
        {
            var ranked = results.Select(r => classifier.Tasks != null ? r.Tasks![heads[t].Name] : r.Labels).ToArray();
            var predicted = ranked.Select(l => heads[t].Labels.ToList().IndexOf(l[0].Label)).ToArray();
            var report = EvaluationReport.Compute(heads[t].Labels, gold[t], predicted, [.. ranked.Select(l => (double)l[0].Score)], options);
            reports.Add((classifier.Tasks != null ? heads[t].Name : null, groups == null ? report : report.WithGroups(groups, gold[t], predicted)));
        }
        var lines = JsonLines.Format(Enumerable.Range(0, rows.Count), (json, i) =>
        {
            json.WriteStartObject();
            json.WriteNumber("line", rows[i].Line);
            if (classifier.Tasks != null)
            {
                json.WriteStartObject("tasks");
                foreach (var (task, labels) in results[i].Tasks!)
                    ClassifyCommand.WriteLabels(json, task, labels);
                json.WriteEndObject();
                json.WriteStartObject("label");
                for (var t = 0; t < heads.Count; t++)
                    json.WriteString(heads[t].Name, heads[t].Labels[gold[t][i]]);
                json.WriteEndObject();
            }
            else
            {
                ClassifyCommand.WriteLabels(json, "labels", results[i].Labels);
                json.WriteString("label", heads[0].Labels[gold[0][i]]);
            }
            json.WriteEndObject();
        });
        return (reports, lines);
    }

    // A predictions file: {"labels": [{"label", "score"}, ...], "label": gold} per line (or "tasks" and a "label" object).
    private static (List<(string?, EvaluationReport)>, string) ScorePredictions(string file, EvaluationOptions options)
    {
        var rows = TableReader.Read(file.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase) || file.EndsWith(".json", StringComparison.OrdinalIgnoreCase) ? file
            : throw new NuansaException($"{file}: a predictions file is JSON Lines (.jsonl)."));
        if (rows.Count == 0)
            throw new NuansaException($"{file}: no predictions.");
        var multiTask = rows[0].Fields.ContainsKey("tasks");
        var taskNames = multiTask ? rows[0].Fields["tasks"].EnumerateObject().Select(p => p.Name).ToArray() : [(string)null!];
        var reports = new List<(string?, EvaluationReport)>();
        foreach (var task in taskNames)
        {
            var labels = new List<string>();
            int Id(string name)
            {
                var i = labels.IndexOf(name);
                if (i >= 0)
                    return i;
                labels.Add(name);
                return labels.Count - 1;
            }
            var gold = new List<int>();
            var predicted = new List<int>();
            var confidence = new List<double>();
            foreach (var row in rows)
            {
                var ranked = multiTask ? Get(row, "tasks", file).GetProperty(task) : Get(row, "labels", file);
                var goldValue = multiTask ? Get(row, "label", file).GetProperty(task) : Get(row, "label", file);
                if (ranked.ValueKind != JsonValueKind.Array || ranked.GetArrayLength() == 0 || goldValue.ValueKind != JsonValueKind.String)
                    throw new NuansaException($"{file}, line {row.Line}: expected a non-empty \"labels\" list and a gold \"label\" string.");
                foreach (var entry in ranked.EnumerateArray())
                    Id(entry.GetProperty("label").GetString()!);
                gold.Add(Id(goldValue.GetString()!));
                predicted.Add(Id(ranked[0].GetProperty("label").GetString()!));
                confidence.Add(ranked[0].GetProperty("score").GetDouble());
            }
            reports.Add((task, EvaluationReport.Compute(labels, gold, predicted, confidence, options)));
        }
        return (reports, string.Concat(File.ReadLines(file).Where(l => l.Trim().Length > 0).Select(l => l + "\n")));
    }

    private static JsonElement Get(DataRow row, string field, string file) =>
        row.Fields.TryGetValue(field, out var v) ? v : throw new NuansaException($"{file}, line {row.Line}: no \"{field}\" field.");

    // report.md, and report.html with the same content and the charts embedded.
    private static void WriteReports(string folder, string markdown, string title)
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

    private static void WriteMultiLabel(string output, MultiLabelMetrics metrics, IReadOnlyList<string> labels, int count, string predictions, string title, string trainingLog, string dataPath)
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
            if (EvaluationCharts.TrainingCurves(trainingLog, Path.Combine(staging, "training_curves.png")) is { } curves)
                text.Append($"\n![training curves]({Path.GetFileName(curves)})\n");
            WriteReports(staging, text.ToString(), title);
        });
    }

    private static void Write(string output, List<(string? Task, EvaluationReport Report)> reports, string predictions, string title, string? trainingLog, string dataPath)
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
            WriteReports(staging, markdown.ToString(), title);
        });
    }
}
