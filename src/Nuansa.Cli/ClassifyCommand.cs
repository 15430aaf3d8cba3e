using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Nuansa.Inference;
using Nuansa.Reporting;

namespace Nuansa.Cli;

/// <summary><c>nuansa classify --model DIR [TEXT ...] [--context C] [--input F] [--output F] ...</c>.</summary>
internal static class ClassifyCommand
{
    public static Command Create(TextReader standardInput)
    {
        var model = new Option<string>("--model", "-m") { Description = "Checkpoint folder.", Required = true };
        var texts = new Argument<string[]>("texts") { Description = "Texts to classify (or use --input).", Arity = ArgumentArity.ZeroOrMore };
        var context = new Option<string?>("--context") { Description = "Context for the positional texts: each is classified as [CLS] context [SEP] text [SEP]." };
        var input = new Option<string?>("--input", "-i") { Description = "JSON Lines ({\"text\": ..., \"text_pair\": ...}), CSV or TSV file; '-' for JSON Lines on standard input." };
        var output = new Option<string?>("--output", "-o") { Description = "Write JSON Lines here (default: standard output)." };
        var textColumn = new Option<string>("--text-column") { Description = "Column with the text (the context, for pairs).", DefaultValueFactory = _ => "text" };
        var pairColumn = CliParsing.PairColumnOption();
        var topK = new Option<string>("--top-k") { Description = "Labels per input (per task): a number or 'all'.", DefaultValueFactory = _ => "1" };
        var function = new Option<string>("--function") { Description = "default (from the model), softmax, sigmoid or none.", DefaultValueFactory = _ => "default" };
        function.AcceptOnlyFromAmong("default", "softmax", "sigmoid", "none");
        var maxLength = new Option<int?>("--max-length") { Description = "Token limit including special tokens (default: the model's)." };
        var truncation = new Option<string>("--truncation") { Description = "longest_first, only_first, only_second or do_not_truncate.", DefaultValueFactory = _ => "longest_first" };
        truncation.AcceptOnlyFromAmong("longest_first", "only_first", "only_second", "do_not_truncate");
        var truncationSide = CliParsing.TruncationSideOption();
        var longText = new LongTextOptions();
        var showWindows = new Option<bool>("--show-windows") { Description = "With --long-text chunk: also write each window's labels and logits (JSON output)." };
        var batchSize = new Option<int>("--batch-size") { Description = "Inputs per forward pass.", DefaultValueFactory = _ => 32 };
        var maxBatchTokens = CliParsing.MaxBatchTokensOption();
        var tasks = new TaskOptions();
        var threads = new Option<int>("--threads") { Description = "Threads per forward pass (0: all cores).", DefaultValueFactory = _ => 0 };
        var precision = PrecisionOptions.ForRunning();

        var command = new Command("classify", "Classify texts or context–text pairs with a Hugging Face sequence classifier.")
        {
            model, texts, context, input, output, textColumn, pairColumn, topK, function, maxLength, truncation, truncationSide, longText.LongText, longText.Stride, longText.Aggregate, showWindows, batchSize, maxBatchTokens, tasks.Tasks, tasks.TaskLabels, threads, precision.Quantize, precision.Int8Weights,
        };
        command.SetAction(parse => Program.Guard(parse, stdout =>
        {
            JsonLines.CheckOutput(parse.GetValue(output));
            var positional = parse.GetValue(texts) ?? [];
            var inputPath = parse.GetValue(input);
            if ((positional.Length > 0) == (inputPath != null))
                throw new NuansaException("Give texts as arguments or --input, one of the two.");
            var options = longText.Apply(parse, new ClassifyOptions
            {
                TopK = ParseTopK(parse.GetValue(topK)!),
                Function = parse.GetValue(function) switch { "softmax" => ScoreFunction.Softmax, "sigmoid" => ScoreFunction.Sigmoid, "none" => ScoreFunction.None, _ => ScoreFunction.Default },
                MaxLength = parse.GetValue(maxLength),
                Truncation = TokenizeCommand.ParseTruncation(parse.GetValue(truncation)!),
                TruncationSide = CliParsing.TruncationSide(parse.GetValue(truncationSide)!),
                BatchSize = parse.GetValue(batchSize) is var b and > 0 ? b : throw new NuansaException("--batch-size must be at least 1."),
                MaxBatchTokens = CliParsing.MaxBatchTokens(parse, maxBatchTokens),
            });
            var loadOptions = precision.Apply(parse, new TextClassifierOptions
            {
                Threads = parse.GetValue(threads),
                Tasks = tasks.Read(parse),
            });

            var (items, lines, source) = inputPath == null
                ? (positional.Select(t => parse.GetValue(context) is { } c ? TextInput.WithContext(c, t) : new TextInput(t)).ToArray(), null, "arguments")
                : ReadInputs(inputPath, standardInput, parse.GetValue(textColumn)!, parse.GetValue(pairColumn));

            using var classifier = TextClassifier.Load(CliParsing.Model(parse, parse.GetValue(model)!), loadOptions);
            CliParsing.ReportPrecision(parse, classifier);
            var progress = Progress(parse.InvocationConfiguration.Error, items.Length);
            IReadOnlyList<Classification> results;
            try
            {
                results = classifier.ClassifyBatch(items, options, progress);
            }
            catch (TokenizationException e) when (e.Index is { } index)
            {
                var where = lines != null ? $"{source}, line {lines[index]}" : $"text {index + 1}";
                throw new NuansaException($"{where}: {e.Message[(e.Message.IndexOf(": ", StringComparison.Ordinal) + 2)..]}");
            }
            if (inputPath == null && parse.GetValue(output) == null)
                stdout.Write(Table(items, results));
            else
                JsonLines.WriteOutput(parse.GetValue(output), Json(results, parse.GetValue(showWindows)), stdout);
            return 0;
        }));
        return command;
    }

    internal static (TextInput[], int[]?, string) ReadInputs(string path, TextReader standardInput, string textColumn, string? pairColumn)
    {
        var source = path == "-" ? "standard input" : path;
        var rows = path == "-" ? TableReader.ReadJsonLines(standardInput, source) : TableReader.Read(path);
        return (TableInputs.Read(rows, source, textColumn, pairColumn), [.. rows.Select(r => r.Line)], source);
    }

    internal static int? ParseTopK(string value) =>
        value == "all" ? null
        : int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var k) && k > 0 ? k
        : throw new NuansaException($"--top-k must be a positive number or 'all', not '{value}'.");

    private static IProgress<int>? Progress(TextWriter error, int total)
    {
        if (total < 256 || error != Console.Error || Console.IsErrorRedirected)
            return null;
        return new Progress<int>(done => error.Write(done == total ? $"\rclassified {done}/{total}\n" : $"\rclassified {done}/{total}"));
    }

    private static string Table(TextInput[] items, IReadOnlyList<Classification> results)
    {
        var text = new StringBuilder();
        for (var i = 0; i < items.Length; i++)
        {
            text.AppendLine(Shown(items[i]));
            var r = results[i];
            if (r.Tasks != null)
            {
                foreach (var (task, labels) in r.Tasks)
                    text.AppendLine(CultureInfo.InvariantCulture, $"  {task}: {Scores(labels)}");
            }
            else
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"  {Scores(r.Labels)}");
            }
        }
        return text.ToString();
    }

    /// <summary>An input as a table shows it: "[context] text", cut to 70 characters.</summary>
    internal static string Shown(TextInput input)
    {
        var shown = input.TextPair == null ? input.Text : $"[{input.Text}] {input.TextPair}";
        return shown.Length > 70 ? shown[..67] + "..." : shown;
    }

    internal static string Scores(IEnumerable<LabelScore> labels) =>
        string.Join("  ", labels.Select(l => string.Create(CultureInfo.InvariantCulture, $"{l.Label} {l.Score:0.0000}")));

    private static string Json(IReadOnlyList<Classification> results, bool windows = false) => ClassificationJson.Lines(results, (json, r) =>
    {
        json.WriteStartObject();
        WriteResult(json, r);
        if (windows && r.Windows != null)
        {
            json.WriteStartArray("windows");
            foreach (var w in r.Windows)
            {
                json.WriteStartObject();
                WriteResult(json, w);
                json.WriteEndObject();
            }
            json.WriteEndArray();
        }
        json.WriteEndObject();
    });

    private static void WriteResult(Utf8JsonWriter json, Classification r) => ClassificationJson.WriteFields(json, r);

    internal static void WriteLabels(Utf8JsonWriter json, string name, IEnumerable<LabelScore> labels) => ClassificationJson.WriteLabels(json, name, labels);
}
