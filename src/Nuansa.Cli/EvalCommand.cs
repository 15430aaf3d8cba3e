using System.CommandLine;
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
        var pairColumn = CliParsing.PairColumnOption();
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
            ModelEvaluation evaluation;
            string title;
            string? trainingLog = null;
            string dataPath;
            if (parse.GetValue(predictions) is { } file)
            {
                if (parse.GetValue(model) != null || parse.GetValue(data) != null)
                    throw new NuansaException("Give either --predictions, or --model with --data.");
                if (!file.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase) && !file.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
                    throw new NuansaException($"{file}: a predictions file is JSON Lines (.jsonl).");
                var rows = TableReader.ReadData(file);
                if (rows.Rows.Count == 0)
                    throw new NuansaException($"{file}: no predictions.");
                evaluation = ModelEvaluation.ScorePredictions(rows, options);
                (title, dataPath) = ($"Evaluation of {Path.GetFileName(file)}", file);
            }
            else
            {
                var modelPath = CliParsing.Model(parse, parse.GetValue(model) ?? throw new NuansaException("Give --model and --data, or --predictions."));
                dataPath = parse.GetValue(data) ?? throw new NuansaException("--model needs --data (labelled examples).");
                title = $"Evaluation of {Path.GetFileName(Path.GetFullPath(modelPath).TrimEnd('/'))} on {Path.GetFileName(dataPath)}";
                using var classifier = TextClassifier.Load(modelPath, precision.Apply(parse, new TextClassifierOptions { Tasks = tasks.Read(parse) }));
                CliParsing.ReportPrecision(parse, classifier);
                var columns = new EvaluationColumns
                {
                    TextColumn = parse.GetValue(textColumn)!, PairColumn = parse.GetValue(pairColumn), LabelColumn = parse.GetValue(labelColumn)!, GroupColumn = parse.GetValue(groupColumn),
                };
                evaluation = ModelEvaluation.Evaluate(classifier, TableReader.ReadData(dataPath), columns,
                    longText.Apply(parse, new ClassifyOptions { BatchSize = parse.GetValue(batchSize), MaxLength = parse.GetValue(maxLength) }), options);
                trainingLog = Path.Combine(modelPath, Training.Trainer.LogFileName);
            }
            EvaluationFolder.Write(parse.GetValue(output)!, evaluation, title, trainingLog, dataPath);
            if (evaluation.Truncated > 0)
            {
                parse.InvocationConfiguration.Error.WriteLine(
                    $"note: {evaluation.Truncated} of {evaluation.Count} inputs were longer than {evaluation.MaxLength} tokens and were cut (--long-text chunk classifies them whole).");
            }
            if (evaluation.MultiLabel is { } multiLabel)
            {
                stdout.WriteLine(FormattableString.Invariant(
                    $"subset_accuracy {multiLabel.SubsetAccuracy:0.0000}  hamming_loss {multiLabel.HammingLoss:0.0000}  f1_micro {multiLabel.F1Micro:0.0000}  f1_macro {multiLabel.F1Macro:0.0000}  ({evaluation.Count} examples)"));
                stdout.WriteLine($"wrote {parse.GetValue(output)}");
                return 0;
            }
            var reports = evaluation.Reports;
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
}
