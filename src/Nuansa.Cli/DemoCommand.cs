using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Nuansa.Inference;
using Nuansa.Training;
using Nuansa.Reporting;

namespace Nuansa.Cli;

/// <summary>
/// <c>nuansa demo [--output DIR]</c>: the whole workflow offline on the project's own small sample of English and
/// Indonesian reviews — a vocabulary, a new model, training, evaluation with charts, a model card, and classification.
/// </summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var output = new Option<string>("--output", "-o") { Description = "Folder for everything the demo writes (a new one is chosen if it exists).", DefaultValueFactory = _ => "nuansa-demo" };
        var command = new Command("demo", "Train, evaluate, describe and use a small sentiment classifier, offline, in seconds.") { output };
        command.SetAction(parse => Program.Guard(parse, stdout =>
        {
            var clock = Stopwatch.StartNew();
            var root = FreshFolder(parse.GetValue(output)!);
            var data = Path.Combine(root, "data");
            Directory.CreateDirectory(data);

            // 1. The sample: every fifth review is kept for testing.
            var rows = ReadSample();
            File.WriteAllLines(Path.Combine(data, "train.tsv"), ["text\tlabel", .. rows.Where((_, i) => i % 5 != 0)]);
            File.WriteAllLines(Path.Combine(data, "test.tsv"), ["text\tlabel", .. rows.Where((_, i) => i % 5 == 0)]);
            var vocabulary = Path.Combine(data, "vocab.txt");
            File.WriteAllLines(vocabulary, BuildVocabulary(rows.Select(r => r.Split('\t')[0])));
            stdout.WriteLine($"1. sample: {rows.Count} labelled reviews (English and Indonesian) → {data}");

            // 2. A new small BERT with HF's initialization.
            var init = Path.Combine(root, "base-model");
            ModelInitializer.CreateCheckpoint(new NewModelOptions
            {
                ModelType = "bert", Labels = ["negative", "positive"], HiddenSize = 64, NumHiddenLayers = 2, NumAttentionHeads = 2,
                IntermediateSize = 128, MaxPositionEmbeddings = 64, Seed = 7,
            }, vocabulary, null, init);
            stdout.WriteLine($"2. model:  BERT, 2 layers, hidden 64, initialized → {init}");

            // 3. Fine-tuning with the usual recipe: AdamW, warm-up, evaluation each epoch, best checkpoint kept.
            var model = Path.Combine(root, "model");
            var result = Trainer.Train(init, TableReader.ReadData(Path.Combine(data, "train.tsv")), null, model, new TrainingOptions
            {
                NumTrainEpochs = 30, PerDeviceTrainBatchSize = 16, LearningRate = 2e-3, WarmupRatio = 0.1, WeightDecay = 0.01,
                MetricForBestModel = "accuracy", LoadBestModelAtEnd = true, ValidationSplit = 0.15, Seed = 7,
            });
            stdout.WriteLine(FormattableString.Invariant($"3. train:  {result.Steps} steps in {result.Duration.TotalSeconds:0.0} s, best validation accuracy {result.Best?.Metrics["accuracy"] ?? double.NaN:0.000} → {model}"));

            // 4. Evaluation on the test reviews, with intervals, charts and a report.
            var evaluation = Path.Combine(root, "evaluation");
            var (code, report) = RunQuiet(["eval", "--model", model, "--data", Path.Combine(data, "test.tsv"), "--output", evaluation]);
            if (code != 0)
                throw new NuansaException($"evaluation failed: {report}");
            stdout.WriteLine($"4. eval:   {report.Split('\n')[0]} → {evaluation}");

            // 5. A model card with those results.
            (code, report) = RunQuiet(["card", "--model", model, "--eval", evaluation, "--language", "en,id", "--license", "mit", "--dataset", "nuansa-demo-reviews"]);
            if (code != 0)
                throw new NuansaException($"writing the card failed: {report}");
            stdout.WriteLine($"5. card:   {Path.Combine(model, "README.md")}");

            // 6. Using it.
            using var classifier = TextClassifier.Load(model);
            string[] examples = ["the delivery was friendly and quick", "this phone broke after a week", "makanannya segar dan enak", "aplikasinya sangat mengecewakan"];
            stdout.WriteLine("6. classify:");
            foreach (var (text, r) in examples.Zip(classifier.ClassifyBatch([.. examples.Select(e => new TextInput(e))])))
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"   {text,-40} {r.Top.Label} ({r.Top.Score:0.000})"));

            // 7. The same model quantized to int8: how much it changes on the test reviews.
            var tests = rows.Where((_, i) => i % 5 == 0).Select(r => new TextInput(r.Split('\t')[0])).ToArray();
            using var quantized = TextClassifier.Load(model, new TextClassifierOptions { Quantization = Models.Quantization.Int8 });
            var full = classifier.ClassifyBatch(tests);
            var small = quantized.ClassifyBatch(tests);
            var agree = full.Zip(small).Count(p => p.First.Top.Label == p.Second.Top.Label);
            var change = full.Zip(small).Max(p => Math.Abs(p.First.Top.Score - p.Second.Labels.Single(l => l.Label == p.First.Top.Label).Score));
            stdout.WriteLine(FormattableString.Invariant($"7. int8:   same label on {agree}/{tests.Length} test reviews, scores moved by {change:0.0000} at most (nuansa classify --quantize int8)"));
            stdout.WriteLine(FormattableString.Invariant($"done in {clock.Elapsed.TotalSeconds:0} s; open {Path.Combine(evaluation, "report.md")} for the report and charts."));
            return 0;
        }));
        return command;
    }

    private static List<string> ReadSample()
    {
        using var stream = typeof(DemoCommand).Assembly.GetManifestResourceStream("Nuansa.Cli.Demo.reviews.tsv")
            ?? throw new InvalidOperationException("The demo sample is missing from the tool.");
        using var reader = new StreamReader(stream);
        return [.. reader.ReadToEnd().Split('\n').Skip(1).Where(l => l.Length > 0)];
    }

    /// <summary>A WordPiece vocabulary for the sample: the special tokens, every character (also as a continuation), and every word.</summary>
    internal static IEnumerable<string> BuildVocabulary(IEnumerable<string> texts)
    {
        var words = texts.SelectMany(t => t.ToLowerInvariant().Split(' ', StringSplitOptions.RemoveEmptyEntries)).SelectMany(w => w.Split('-')).ToList();
        var characters = words.SelectMany(w => w).Append('-').Distinct().Order().Select(c => c.ToString()).ToList();
        return ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", .. characters, .. characters.Select(c => "##" + c),
                .. words.Distinct().Where(w => w.Length > 1).Order(StringComparer.Ordinal)];
    }

    private static string FreshFolder(string requested)
    {
        var candidate = requested;
        for (var n = 2; Directory.Exists(candidate) && Directory.EnumerateFileSystemEntries(candidate).Any(); n++)
            candidate = $"{requested}-{n}";
        Directory.CreateDirectory(candidate);
        return candidate;
    }

    private static (int Code, string Output) RunQuiet(string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = Program.Run(args, output, error);
        return (code, code == 0 ? output.ToString() : error.ToString());
    }
}
