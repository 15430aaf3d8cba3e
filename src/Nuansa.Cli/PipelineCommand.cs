using System.CommandLine;
using System.Globalization;
using System.Text;
using Nuansa.Inference;

namespace Nuansa.Cli;

/// <summary><c>nuansa pipeline --config F [TEXT ...] [--context C] [--input F] [--output F]</c>: chained classifiers with gates and alerts.</summary>
internal static class PipelineCommand
{
    public static Command Create(TextReader standardInput)
    {
        var config = new Option<string>("--config", "-c") { Description = "Pipeline file: {\"steps\": [{\"name\", \"model\", \"keep\", \"min_score\"}], \"alerts\": [{\"name\", \"step\", \"labels\", \"min_score\"}]}.", Required = true };
        var texts = new Argument<string[]>("texts") { Description = "Texts to run (or use --input).", Arity = ArgumentArity.ZeroOrMore };
        var context = new Option<string?>("--context") { Description = "Context for every positional text (context-conditioned models)." };
        var input = new Option<string?>("--input", "-i") { Description = "CSV, TSV or JSON Lines with a text column (and optionally a context column); - for JSON Lines on standard input." };
        var output = new Option<string?>("--output", "-o") { Description = "JSON Lines output file (default: standard output)." };
        var textColumn = new Option<string>("--text-column") { DefaultValueFactory = _ => "text" };
        var pairColumn = CliParsing.PairColumnOption();
        var topK = new Option<string>("--top-k") { Description = "Labels per step in the output, or 'all'.", DefaultValueFactory = _ => "1" };
        var precision = PrecisionOptions.ForRunning();
        var longText = new LongTextOptions();
        var threads = new Option<int>("--threads") { Description = "Threads per forward pass (0: all cores).", DefaultValueFactory = _ => 0 };
        var command = new Command("pipeline", "Run texts through chained classifiers: gates (e.g. a relevancy filter) stop what they do not keep; alerts flag scores over a threshold.")
        {
            config, texts, context, input, output, textColumn, pairColumn, topK, precision.Quantize, precision.Int8Weights, longText.LongText, longText.Stride, longText.Aggregate, threads,
        };
        command.SetAction(parse => Program.Guard(parse, stdout =>
        {
            var positional = parse.GetValue(texts) ?? [];
            JsonLines.CheckOutput(parse.GetValue(output));
            var inputPath = parse.GetValue(input);
            if ((positional.Length > 0) == (inputPath != null))
                throw new NuansaException("Give texts as arguments or --input, one of the two.");
            var (items, lines, _) = inputPath == null
                ? (positional.Select(t => parse.GetValue(context) is { } c ? TextInput.WithContext(c, t) : new TextInput(t)).ToArray(), null, "arguments")
                : ClassifyCommand.ReadInputs(inputPath, standardInput, parse.GetValue(textColumn)!, parse.GetValue(pairColumn));
            using var pipeline = Pipeline.Load(parse.GetValue(config)!, precision.Apply(parse, new TextClassifierOptions { Threads = parse.GetValue(threads) }));
            var results = pipeline.Run(items, longText.Apply(parse, new ClassifyOptions { TopK = ClassifyCommand.ParseTopK(parse.GetValue(topK)!) }));
            if (inputPath == null && parse.GetValue(output) == null)
                stdout.Write(Table(items, results));
            else
                JsonLines.WriteOutput(parse.GetValue(output), Json(items, results, lines), stdout);
            return 0;
        }));
        return command;
    }

    private static string Table(TextInput[] items, IReadOnlyList<PipelineResult> results)
    {
        var text = new StringBuilder();
        for (var i = 0; i < items.Length; i++)
        {
            text.AppendLine(ClassifyCommand.Shown(items[i]));
            foreach (var (step, c) in results[i].Steps)
            {
                if (c.Tasks == null)
                    text.AppendLine(CultureInfo.InvariantCulture, $"  {step}: {ClassifyCommand.Scores(c.Labels)}");
                foreach (var (task, labels) in c.Tasks ?? new Dictionary<string, IReadOnlyList<LabelScore>>())
                    text.AppendLine(CultureInfo.InvariantCulture, $"  {step} {task}: {ClassifyCommand.Scores(labels)}");
            }
            if (results[i].StoppedAt is { } stop)
                text.AppendLine(CultureInfo.InvariantCulture, $"  stopped at {stop}");
            if (results[i].Alerts.Count > 0)
                text.AppendLine(CultureInfo.InvariantCulture, $"  ALERT: {string.Join(", ", results[i].Alerts)}");
        }
        return text.ToString();
    }

    // {"line"?, "text", "text_pair"?, "steps": {"step": [{"label", "score"}...] or, multi-task, {"task": [...]}}, "kept", "stopped_at", "alerts": [...]}
    private static string Json(TextInput[] items, IReadOnlyList<PipelineResult> results, int[]? lines) => ClassificationJson.Lines(results.Select((r, i) => (r, i)), (json, x) =>
    {
        var (r, i) = x;
        json.WriteStartObject();
        if (lines != null)
            json.WriteNumber("line", lines[i]);
        json.WriteString("text", items[i].Text);
        if (items[i].TextPair is { } pair)
            json.WriteString("text_pair", pair);
        json.WriteStartObject("steps");
        foreach (var (step, c) in r.Steps)
        {
            if (c.Tasks == null)
            {
                ClassifyCommand.WriteLabels(json, step, c.Labels);
                continue;
            }
            json.WriteStartObject(step);
            foreach (var (task, labels) in c.Tasks)
                ClassifyCommand.WriteLabels(json, task, labels);
            json.WriteEndObject();
        }
        json.WriteEndObject();
        json.WriteBoolean("kept", r.Kept);
        if (r.StoppedAt is { } stop)
            json.WriteString("stopped_at", stop);
        else
            json.WriteNull("stopped_at");
        json.WriteStartArray("alerts");
        foreach (var a in r.Alerts)
            json.WriteStringValue(a);
        json.WriteEndArray();
        json.WriteEndObject();
    });
}
