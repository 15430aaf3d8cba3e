using System.CommandLine;
using Nuansa.Inference;

namespace Nuansa.Cli;

/// <summary><c>nuansa uncertain --model DIR --input F [--top N] [--strategy entropy|margin|least_confidence]</c>: what to annotate next.</summary>
internal static class UncertainCommand
{
    public static Command Create(TextReader standardInput)
    {
        var model = new Option<string>("--model", "-m") { Description = "Checkpoint folder.", Required = true };
        var input = new Option<string>("--input", "-i") { Description = "Unlabelled texts: CSV, TSV or JSON Lines with a text column (- for JSON Lines on standard input).", Required = true };
        var output = new Option<string?>("--output", "-o") { Description = "JSON Lines output file (default: standard output)." };
        var top = new Option<int?>("--top") { Description = "Keep only the N most uncertain inputs (default: all, ranked)." };
        var strategy = new Option<string>("--strategy") { Description = "entropy, margin or least_confidence.", DefaultValueFactory = _ => "entropy" };
        strategy.AcceptOnlyFromAmong("entropy", "margin", "least_confidence");
        var textColumn = new Option<string>("--text-column") { DefaultValueFactory = _ => "text" };
        var pairColumn = CliParsing.PairColumnOption();
        var precision = PrecisionOptions.ForRunning();
        var tasks = new TaskOptions();
        var command = new Command("uncertain", "Rank unlabelled texts by how unsure the model is, most uncertain first: the ones to annotate next (active learning).")
        {
            model, input, output, top, strategy, textColumn, pairColumn, precision.Quantize, precision.Int8Weights, tasks.Tasks, tasks.TaskLabels,
        };
        command.SetAction(parse => Program.Guard(parse, stdout =>
        {
            JsonLines.CheckOutput(parse.GetValue(output));
            if (parse.GetValue(top) is < 1)
                throw new NuansaException("--top must be at least 1.");
            var (items, lines, _) = ClassifyCommand.ReadInputs(parse.GetValue(input)!, standardInput, parse.GetValue(textColumn)!, parse.GetValue(pairColumn));
            using var classifier = TextClassifier.Load(CliParsing.Model(parse, parse.GetValue(model)!), precision.Apply(parse, new TextClassifierOptions { Tasks = tasks.Read(parse) }));
            CliParsing.ReportPrecision(parse, classifier);
            var results = classifier.ClassifyBatch(items, new ClassifyOptions { TopK = null });
            var chosen = parse.GetValue(strategy) switch { "margin" => UncertaintyStrategy.Margin, "least_confidence" => UncertaintyStrategy.LeastConfidence, _ => UncertaintyStrategy.Entropy };
            var ranked = Uncertainty.Rank(results, chosen);
            var kept = parse.GetValue(top) is { } n ? ranked.Take(n) : ranked;
            JsonLines.WriteOutput(parse.GetValue(output), ClassificationJson.Lines(kept, (json, x) =>
            {
                json.WriteStartObject();
                json.WriteNumber("line", lines![x.Index]);
                json.WriteString("text", items[x.Index].Text);
                if (items[x.Index].TextPair is { } pair)
                    json.WriteString("text_pair", pair);
                json.WriteNumber("uncertainty", Math.Round(x.Score, 6));
                var r = results[x.Index];
                if (r.Tasks != null)
                {
                    json.WriteStartObject("tasks");
                    foreach (var (task, labels) in r.Tasks)
                        ClassifyCommand.WriteLabels(json, task, labels);
                    json.WriteEndObject();
                }
                else
                {
                    ClassifyCommand.WriteLabels(json, "labels", r.Labels);
                }
                json.WriteEndObject();
            }), stdout);
            return 0;
        }));
        return command;
    }
}
