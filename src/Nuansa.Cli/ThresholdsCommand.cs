using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using Nuansa.Evaluation;
using Nuansa.Inference;
using Nuansa.Reporting;

namespace Nuansa.Cli;

/// <summary>
/// <c>nuansa thresholds --model M --data F --label L[,L2] (--target-precision P | --target-recall R)</c>: the
/// precision–recall trade-off of labels on labelled data, the threshold meeting a target, and a pipeline alert block.
/// </summary>
internal static class ThresholdsCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model", "-m") { Description = "Checkpoint folder or Hub id.", Required = true };
        var data = new Option<string>("--data") { Description = "Labelled CSV, TSV or JSON Lines.", Required = true };
        var labels = new Option<string>("--label") { Description = "Label(s) to set thresholds for, comma-separated (e.g. Frustrasi,Marah).", Required = true };
        var precision = new Option<double?>("--target-precision") { Description = "Choose the lowest threshold whose precision reaches this (most recall at that precision)." };
        var recall = new Option<double?>("--target-recall") { Description = "Choose the highest threshold whose recall reaches this (most precision at that recall)." };
        var textColumn = new Option<string>("--text-column") { DefaultValueFactory = _ => "text" };
        var pairColumn = CliParsing.PairColumnOption();
        var labelColumn = new Option<string>("--label-column") { DefaultValueFactory = _ => "label" };
        var chart = new Option<string?>("--chart") { Description = "Write the precision–recall curves as a PNG here." };
        var write = new Option<string?>("--write") { Description = "Add (or replace) the alert in this pipeline file." };
        var step = new Option<string?>("--step") { Description = "The pipeline step the alert watches (default: the step whose model is --model, else the last)." };
        var alert = new Option<string>("--alert") { Description = "The alert's name.", DefaultValueFactory = _ => "escalate" };
        var command = new Command("thresholds", "Precision–recall trade-off per label on labelled data, the threshold meeting a target, and a pipeline alert block.")
        {
            model, data, labels, precision, recall, textColumn, pairColumn, labelColumn, chart, write, step, alert,
        };
        command.SetAction(parse => Program.Guard(parse, stdout =>
        {
            var targetPrecision = parse.GetValue(precision);
            var targetRecall = parse.GetValue(recall);
            if ((targetPrecision == null) == (targetRecall == null))
                throw new NuansaException("Give one target: --target-precision or --target-recall.");
            if ((targetPrecision ?? targetRecall) is < 0 or > 1)
                throw new NuansaException(FormattableString.Invariant($"{(targetPrecision != null ? "--target-precision" : "--target-recall")} is a number from 0 to 1, not {targetPrecision ?? targetRecall} (0.9 for 90%)."));
            if (parse.GetValue(chart) is { } chartPath)
                AtomicFile.CheckWritable(chartPath);
            if (parse.GetValue(write) is { } pipelineFile)
                AtomicFile.CheckWritable(pipelineFile);
            // The data and its columns are checked before the model is loaded.
            var path = parse.GetValue(data)!;
            var rows = TableReader.Read(path);
            Data.DataColumns.Require(rows, path, (parse.GetValue(labelColumn), "label"));
            var inputs = TableInputs.Read(rows, path, parse.GetValue(textColumn)!, parse.GetValue(pairColumn));
            var modelPath = CliParsing.Model(parse, parse.GetValue(model)!);
            using var classifier = TextClassifier.Load(modelPath);
            var wanted = CliParsing.List(parse.GetValue(labels)!);
            var unknown = wanted.FirstOrDefault(l => !classifier.Labels.Contains(l));
            if (unknown != null)
                throw new NuansaException($"--label {unknown}: the model's labels are {string.Join(", ", classifier.Labels)}.");
            var gold = rows.Select(r => classifier.Labels[r.LabelId(parse.GetValue(labelColumn)!, classifier.Labels, path)]).ToArray();
            var results = classifier.ClassifyBatch(inputs, new ClassifyOptions { TopK = null });

            var chosen = new JsonObject();
            var curves = new List<(string, IReadOnlyList<PrecisionRecallPoint>, PrecisionRecallPoint?)>();
            foreach (var label in wanted)
            {
                var scores = results.Select(r => (double)r.Labels.First(l => l.Label == label).Score).ToArray();
                var curve = Thresholds.Curve(scores, [.. gold.Select(g => g == label)]);
                var pick = Thresholds.Choose(curve, targetPrecision, targetRecall);
                curves.Add((label, curve, pick));
                stdout.WriteLine($"{label}: {gold.Count(g => g == label)} of {gold.Length} examples");
                stdout.WriteLine("  threshold  precision  recall");
                // A readable sample of the curve: the points nearest each tenth of the score range.
                foreach (var t in new[] { 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1 })
                {
                    if (curve.Where(c => c.Threshold >= t).Cast<PrecisionRecallPoint?>().LastOrDefault() is { } p)
                        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  ≥ {t,-7:0.0}  {p.Precision,9:0.000}  {p.Recall,6:0.000}"));
                }
                if (pick is { } c)
                {
                    stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  chosen: {c.Threshold:0.####} (precision {c.Precision:0.000}, recall {c.Recall:0.000})"));
                    // Rounded down, so the example at the threshold still fires it.
                    chosen[label] = Math.Floor(c.Threshold * 10_000) / 10_000;
                }
                else
                {
                    stdout.WriteLine($"  no threshold reaches the target {(targetPrecision != null ? "precision" : "recall")} {targetPrecision ?? targetRecall}");
                }
            }
            if (parse.GetValue(chart) is { } png)
                stdout.WriteLine($"wrote {EvaluationCharts.PrecisionRecall(curves, png)}");
            if (chosen.Count == 0)
                throw new NuansaException("No label reached the target; nothing to write.");
            var stepName = parse.GetValue(step);
            var block = new JsonObject { ["name"] = parse.GetValue(alert), ["step"] = stepName ?? "STEP", ["labels"] = chosen };
            if (parse.GetValue(write) is { } file)
            {
                WriteAlert(file, block, stepName, modelPath);
                stdout.WriteLine($"wrote the alert into {file}");
            }
            else
            {
                stdout.WriteLine("pipeline alert:");
                stdout.WriteLine(block.ToJsonString());
            }
            return 0;
        }));
        return command;
    }

    // Adds the alert to a pipeline file, replacing one of the same name; every other field is kept as it was.
    private static void WriteAlert(string file, JsonObject block, string? stepName, string modelPath)
    {
        JsonObject root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(file))?.AsObject() ?? throw new NuansaException($"{file}: not a pipeline file.");
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException)
        {
            throw new NuansaException($"{file}: not valid JSON ({e.Message}).");
        }
        var steps = root["steps"] as JsonArray ?? throw new NuansaException($"{file}: no \"steps\".");
        var folder = Path.GetDirectoryName(Path.GetFullPath(file))!;
        block["step"] = stepName
            ?? steps.OfType<JsonObject>().FirstOrDefault(s => s["model"] is JsonValue m && Path.GetFullPath(Path.Combine(folder, m.GetValue<string>())) == Path.GetFullPath(modelPath))?["name"]?.GetValue<string>()
            ?? steps.OfType<JsonObject>().LastOrDefault()?["name"]?.GetValue<string>()
            ?? throw new NuansaException($"{file}: no step to attach the alert to.");
        var alerts = root["alerts"] as JsonArray ?? [];
        root["alerts"] = new JsonArray([.. alerts.Where(a => a?["name"]?.GetValue<string>() != block["name"]!.GetValue<string>()).Select(a => a!.DeepClone()), block]);
        AtomicFile.WriteAllText(file, root.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
    }
}
