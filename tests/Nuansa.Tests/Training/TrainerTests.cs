using System.Text.Json;
using Nuansa.Checkpoints;
using Nuansa.Inference;
using Nuansa.Tests.Cli;

namespace Nuansa.Tests.Training;

public class TrainerTests
{
    private static string Record => Path.Combine(SharedFiles.Fixtures, "training", "bert-2label-adamw");

    [Fact]
    public void NuansaTrainReproducesThePyTorchRecordStepForStep()
    {
        // The record's 8 sentences as a data file; 3 optimizer steps on that one batch, in file order.
        using var json = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Record, "training.json")));
        var batch = json.RootElement.GetProperty("batch");
        using var dir = new TempDirectory();
        File.WriteAllLines(dir.File("train.jsonl"), batch.GetProperty("texts").EnumerateArray().Zip(batch.GetProperty("labels").EnumerateArray())
            .Select(p => JsonSerializer.Serialize(new { text = p.First.GetString(), label = p.Second.GetInt32() })));
        var (code, output, error) = CliRunner.Run("train", "--model", SharedFiles.Model("bert-2label"), "--train", dir.File("train.jsonl"),
            "--output", dir.File("out"), "--max-steps", "3", "--no-shuffle", "--per-device-train-batch-size", "8", "--learning-rate", "1e-3",
            "--warmup-steps", "1", "--weight-decay", "0.01", "--class-weights", "0.678,1.904", "--validation-split", "0", "--max-length", "32");
        Assert.True(code == 0, error);
        Assert.Contains("trained 3 steps", output);

        var keyBiases = json.RootElement.GetProperty("tolerance").GetProperty("exceptions").GetProperty("params").EnumerateArray().Select(e => e.GetString()).ToHashSet();
        using var expected = SafeTensorsFile.Open(Path.Combine(Record, "params_after_step3.safetensors"));
        using var trained = WeightStore.Open(dir.File("out"));
        Assert.Equal(expected.Tensors.Count, trained.Tensors.Count);
        foreach (var t in expected.Tensors)
        {
            var reference = expected.ReadSingle(t.Name);
            var actual = trained.GetSingle(t.Name);
            var tolerance = keyBiases.Contains(t.Name) ? 2e-3 : 2e-5;
            for (var i = 0; i < actual.Length; i++)
                Assert.True(Math.Abs(reference[i] - actual[i]) <= tolerance, $"{t.Name}[{i}]: {actual[i]} vs {reference[i]}");
        }
        var steps = json.RootElement.GetProperty("steps").EnumerateArray().ToArray();
        var log = File.ReadAllLines(Path.Combine(dir.File("out"), "trainer_log.jsonl")).Select(l => JsonDocument.Parse(l).RootElement).ToArray();
        for (var s = 0; s < 3; s++)
        {
            Assert.Equal(steps[s].GetProperty("loss").GetDouble(), log[s].GetProperty("loss").GetDouble(), 5);
            Assert.Equal(steps[s].GetProperty("grad_total_norm_before_clip").GetDouble(), log[s].GetProperty("grad_norm").GetDouble(), 4);
        }
        Assert.Equal(ModelConfig.Load(SharedFiles.Model("bert-2label")).Id2Label, ModelConfig.Load(dir.File("out")).Id2Label);
        Assert.True(File.Exists(Path.Combine(dir.File("out"), "tokenizer.json")));
    }

    [Fact]
    public void LearnsAnEasyTaskAndKeepsTheBestCheckpoint()
    {
        using var dir = new TempDirectory();
        var vocab = Path.Combine(SharedFiles.Root, "data", "vocab", "bert-base-uncased.txt");
        var (code, _, error) = CliRunner.Run("init", "--model-type", "bert", "--vocab", vocab, "--labels", "negative,positive", "--output", dir.File("init"),
            "--hidden-size", "32", "--num-hidden-layers", "1", "--num-attention-heads", "2", "--intermediate-size", "64", "--max-position-embeddings", "64");
        Assert.True(code == 0, error);
        // Sentences whose label is decided by one of a few words among neutral filler.
        string[] good = ["good", "great", "lovely", "wonderful", "excellent"], bad = ["bad", "awful", "terrible", "boring", "poor"];
        string[] filler = ["the", "movie", "was", "really", "quite", "plot", "acting", "and", "a", "film"];
        var random = new Random(3);
        var rows = Enumerable.Range(0, 600).Select(i =>
        {
            var positive = i % 2 == 0;
            var words = Enumerable.Range(0, 6).Select(_ => filler[random.Next(filler.Length)]).ToList();
            words.Insert(random.Next(words.Count), (positive ? good : bad)[random.Next(5)]);
            return $"{string.Join(' ', words)}\t{(positive ? "positive" : "negative")}";
        });
        File.WriteAllLines(dir.File("train.tsv"), ["sentence\tsentiment", .. rows]);
        (code, var output, error) = CliRunner.Run("train", "--validation-split", "0.1", "--model", dir.File("init"), "--train", dir.File("train.tsv"), "--output", dir.File("out"),
            "--text-column", "sentence", "--label-column", "sentiment", "--num-train-epochs", "6", "--per-device-train-batch-size", "16",
            "--learning-rate", "3e-3", "--warmup-ratio", "0.1", "--metric-for-best-model", "accuracy", "--early-stopping-patience", "2", "--load-best-model-at-end", "--seed", "5", "--max-length", "48");
        Assert.True(code == 0, error);
        var evaluations = output.Split('\n').Where(l => l.StartsWith("eval", StringComparison.Ordinal)).ToArray();
        Assert.NotEmpty(evaluations);
        Assert.Contains("best accuracy", output);

        using var classifier = TextClassifier.Load(dir.File("out"));
        Assert.Equal("positive", classifier.Classify("the acting was wonderful").Top.Label);
        Assert.Equal("negative", classifier.Classify("the plot was terrible").Top.Label);
        var held = File.ReadAllLines(Path.Combine(dir.File("out"), "trainer_log.jsonl")).Select(l => JsonDocument.Parse(l).RootElement)
            .Where(e => e.TryGetProperty("eval_accuracy", out _)).Max(e => e.GetProperty("eval_accuracy").GetDouble());
        Assert.True(held >= 0.95, $"best held-out accuracy {held}");

        // nuansa train writes a model card; nuansa card adds the results of nuansa eval.
        var card = File.ReadAllText(Path.Combine(dir.File("out"), "README.md"));
        Assert.StartsWith("---\n", card);
        Assert.Contains("model-index:", card);
        Assert.Contains("- 1: positive", card);
        Assert.Contains("Single texts", card);
        // Trained shorter than the model's limit: the card says both lengths.
        Assert.Contains("Trained on inputs cut at 48 tokens (longest first). At inference, Nuansa and HF cut at the model's limit of 64 tokens", card);
        Assert.Contains("| learning_rate | 0.003 |", card);
        (code, _, error) = CliRunner.Run("eval", "--model", dir.File("out"), "--data", dir.File("train.tsv"), "--text-column", "sentence",
            "--label-column", "sentiment", "--output", dir.File("eval"), "--bootstrap", "100");
        Assert.True(code == 0, error);
        (code, _, error) = CliRunner.Run("card", "--model", dir.File("out"), "--eval", dir.File("eval"), "--language", "en", "--license", "mit", "--dataset", "synthetic-reviews");
        Assert.True(code == 0, error);
        card = File.ReadAllText(Path.Combine(dir.File("out"), "README.md"));
        Assert.Contains("license: mit", card);
        Assert.Contains("language:\n- en", card);
        Assert.Contains("name: synthetic-reviews", card);
        Assert.Matches(@"\| accuracy \| [01]\.\d{4} \| [01]\.\d{4} – [01]\.\d{4} \|", card);
        Assert.Contains(FormattableString.Invariant($"Evaluated with `nuansa eval` on `train.tsv` (600 examples, {new FileInfo(dir.File("train.tsv")).Length:N0} bytes)."), card);
        File.WriteAllText(Path.Combine(dir.File("out"), "README.md"), "my own notes");
        (code, _, error) = CliRunner.Run("card", "--model", dir.File("out"));
        Assert.Equal(1, code);
        Assert.Contains("--force", error);
        Assert.Equal("my own notes", File.ReadAllText(Path.Combine(dir.File("out"), "README.md")));
    }

    internal static string InitSmallBert(TempDirectory dir, string labels, params string[] extra)
    {
        var vocab = Path.Combine(SharedFiles.Root, "data", "vocab", "bert-base-uncased.txt");
        var (code, _, error) = CliRunner.Run(["init", "--model-type", "bert", "--vocab", vocab, "--labels", labels, "--output", dir.File("init"),
            "--hidden-size", "64", "--num-hidden-layers", "2", "--num-attention-heads", "2", "--intermediate-size", "128", "--max-position-embeddings", "64", .. extra], "");
        Assert.True(code == 0, error);
        return dir.File("init");
    }

    [Fact]
    public void TrainsAMultiTaskModelOneColumnPerTask()
    {
        // Two topics, each Unknown / Negative / Positive: a topic word decides whether the topic is mentioned, a sentiment word its polarity.
        using var dir = new TempDirectory();
        var init = InitSmallBert(dir, "a,b,c,d,e,f");
        var random = new Random(4);
        var rows = new List<string> { "text\teconomy\trace" };
        for (var i = 0; i < 600; i++)
        {
            var words = new List<string> { "people", "said", "today" };
            string Cell(string topic, string negative, string positive)
            {
                var mention = random.Next(3);
                if (mention == 0)
                    return "";
                words.Add(topic);
                words.Add(mention == 1 ? negative : positive);
                return mention == 1 ? "Negative" : "Positive";
            }
            var economy = Cell("prices", "expensive", "cheap");
            var race = Cell("ethnic", "divided", "united");
            rows.Add($"{string.Join(' ', words)}\t{economy}\t{race}");
        }
        File.WriteAllLines(dir.File("train.tsv"), rows);
        var (code, output, error) = CliRunner.Run("train", "--validation-split", "0.1", "--model", init, "--train", dir.File("train.tsv"), "--output", dir.File("out"),
            "--tasks", "economy,race", "--task-labels", "Unknown,Negative,Positive", "--num-train-epochs", "10", "--per-device-train-batch-size", "16",
            "--learning-rate", "1e-3", "--warmup-ratio", "0.1", "--metric-for-best-model", "f1_macro", "--seed", "1");
        Assert.True(code == 0, error);
        Assert.True(output.Contains("\n  economy: accuracy "), output);
        using var classifier = Nuansa.Inference.TextClassifier.Load(dir.File("out"));
        Assert.NotNull(classifier.Tasks); // the tasks were saved in config.json
        var r = classifier.Classify("people said today prices cheap");
        Assert.Equal("Positive", r.Tasks!["economy"][0].Label);
        Assert.True(r.Tasks["race"][0].Label == "Unknown", output);
        var best = File.ReadAllLines(Path.Combine(dir.File("out"), "trainer_log.jsonl")).Select(l => JsonDocument.Parse(l).RootElement)
            .Where(e => e.TryGetProperty("eval_f1_macro", out _)).Max(e => e.GetProperty("eval_f1_macro").GetDouble());
        Assert.True(best >= 0.9, $"best mean macro F1 {best}");
    }

    [Fact]
    public void TrainsTasksOfDifferentSizesWithBalancedWeightsPerTask()
    {
        // A 2-label task (is the review polar?) and a 3-label sentiment task over one encoder; sentiment is imbalanced.
        // Models this small, trained from scratch, sit on a plateau for some seeds; the run is deterministic for this one.
        using var dir = new TempDirectory();
        var init = InitSmallBert(dir, "a,b,c,d,e");
        var random = new Random(6);
        var rows = new List<string> { "text\tpolar\tsentiment" };
        string Pick(params string[] options) => options[random.Next(options.Length)];
        for (var i = 0; i < 400; i++)
        {
            var sentiment = random.Next(6) switch { 0 => "negative", 1 or 2 => "neutral", _ => "positive" };
            var word = sentiment switch { "negative" => Pick("awful", "terrible"), "neutral" => Pick("okay", "fine"), _ => Pick("great", "excellent") };
            rows.Add($"{Pick("the prices were", "the service was", "our room was")} {word} today\t{(sentiment == "neutral" ? "no" : "yes")}\t{sentiment}");
        }
        File.WriteAllLines(dir.File("train.tsv"), rows);
        var (code, output, error) = CliRunner.Run("train", "--validation-split", "0.1", "--model", init, "--train", dir.File("train.tsv"), "--output", dir.File("out"),
            "--tasks", "polar,sentiment", "--task-labels", "no,yes;negative,neutral,positive", "--class-weights", "balanced",
            "--num-train-epochs", "12", "--per-device-train-batch-size", "16", "--learning-rate", "1e-3", "--warmup-ratio", "0.1",
            "--metric-for-best-model", "f1_macro", "--seed", "1");
        Assert.True(code == 0, error);
        Assert.Contains("\n  sentiment: accuracy ", output);
        var log = File.ReadAllLines(Path.Combine(dir.File("out"), "trainer_log.jsonl")).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        var best = log.Where(e => e.TryGetProperty("eval_sentiment/f1_macro", out _)).Max(e => e.GetProperty("eval_sentiment/f1_macro").GetDouble());
        Assert.True(best >= 0.9, output);

        using var classifier = Nuansa.Inference.TextClassifier.Load(dir.File("out"));
        Assert.Equal([2, 3], classifier.Tasks!.Select(t => t.Labels.Count));
        var r = classifier.Classify("the service was terrible today", new Nuansa.Inference.ClassifyOptions { TopK = null });
        Assert.Equal("yes", r.Tasks!["polar"][0].Label);
        Assert.Equal("negative", r.Tasks["sentiment"][0].Label);
        Assert.Equal(3, r.Tasks["sentiment"].Count);

        (code, _, error) = CliRunner.Run("train", "--model", init, "--train", dir.File("train.tsv"), "--output", dir.File("bad"),
            "--tasks", "polar,sentiment", "--task-labels", "no,yes;negative,neutral,positive", "--class-weights", "1,1,1");
        Assert.Equal(1, code);
        Assert.Contains("5 non-negative numbers", error);
        (code, _, error) = CliRunner.Run("train", "--model", init, "--train", dir.File("train.tsv"), "--output", dir.File("bad"),
            "--tasks", "polar,sentiment", "--task-labels", "no,yes;a;b");
        Assert.Equal(1, code);
        Assert.Contains("3 label lists for 2 tasks", error);
    }

    [Fact]
    public void TrainsAMultiLabelModel()
    {
        using var dir = new TempDirectory();
        var init = InitSmallBert(dir, "ac,wifi,staff", "--problem-type", "multi_label_classification");
        var random = new Random(6);
        var lines = Enumerable.Range(0, 600).Select(_ =>
        {
            var labels = new[] { "ac", "wifi", "staff" }.Where(_ => random.Next(2) == 0).ToArray();
            var words = new List<string> { "the", "hotel", "room" };
            words.AddRange(labels.Select(l => l switch { "ac" => "cold", "wifi" => "internet", _ => "receptionist" }));
            return JsonSerializer.Serialize(new { text = string.Join(' ', words.OrderBy(_ => random.Next())), label = labels });
        });
        File.WriteAllLines(dir.File("train.jsonl"), lines);
        var (code, output, error) = CliRunner.Run("train", "--validation-split", "0.1", "--model", init, "--train", dir.File("train.jsonl"), "--output", dir.File("out"),
            "--num-train-epochs", "10", "--per-device-train-batch-size", "16", "--learning-rate", "1e-3", "--warmup-ratio", "0.1",
            "--metric-for-best-model", "f1_micro", "--pos-weight", "1,1,1", "--seed", "3");
        Assert.True(code == 0, error);
        Assert.True(output.Contains("subset_accuracy"), output);
        var best = File.ReadAllLines(Path.Combine(dir.File("out"), "trainer_log.jsonl")).Select(l => JsonDocument.Parse(l).RootElement)
            .Where(e => e.TryGetProperty("eval_f1_micro", out _)).Max(e => e.GetProperty("eval_f1_micro").GetDouble());
        Assert.True(best >= 0.9, output);
        using var classifier = Nuansa.Inference.TextClassifier.Load(dir.File("out"));
        var r = classifier.Classify("cold the hotel internet room", new Nuansa.Inference.ClassifyOptions { TopK = null });
        Assert.Equal(["ac", "wifi"], r.Labels.Where(l => l.Score > 0.5f).Select(l => l.Label).Order());

        (code, output, error) = CliRunner.Run("eval", "--model", dir.File("out"), "--data", dir.File("train.jsonl"), "--output", dir.File("eval"));
        Assert.True(code == 0, error);
        Assert.Contains("subset_accuracy", output);
        using var metrics = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dir.File("eval"), "metrics.json")));
        foreach (var key in new[] { "subset_accuracy", "hamming_loss", "f1_micro", "f1_macro", "per_class" })
            Assert.True(metrics.RootElement.TryGetProperty(key, out _), key);
        Assert.True(metrics.RootElement.GetProperty("f1_micro").GetDouble() > 0.9);
        Assert.StartsWith("{\"line\":1,", File.ReadLines(Path.Combine(dir.File("eval"), "predictions.jsonl")).First());
        // Charts: per-label scores and the training curves, both PNG files linked from the report.
        var report = File.ReadAllText(Path.Combine(dir.File("eval"), "report.md"));
        foreach (var chart in new[] { "per_label.png", "training_curves.png" })
        {
            Assert.Contains($"({chart})", report);
            Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], File.ReadAllBytes(Path.Combine(dir.File("eval"), chart)).Take(4));
        }
    }

    [Theory]
    [InlineData("text\tlabel\nfine\tpositive\nodd\tmaybe\n", "line 3", "\"maybe\"")]
    [InlineData("review\tlabel\nfine\tpositive\n", "train.tsv", "no column \"text\" for the text (columns: review, label)")]
    [InlineData("text\tlabel\nfine\t7\n", "line 2", "\"7\"")]
    public void BadLabelsAndColumnsNameTheLine(string data, string line, string what)
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("train.tsv"), data);
        var (code, _, error) = CliRunner.Run("train", "--model", SharedFiles.Model("bert-2label"), "--train", dir.File("train.tsv"), "--output", dir.File("out"));
        Assert.Equal(1, code);
        Assert.Contains(line, error);
        Assert.Contains(what, error);
        Assert.False(Directory.Exists(dir.File("out")));
    }
}

public class OversamplingTests
{
    [Fact]
    public void EveryClassReachesTheLargestClassSize()
    {
        var encoding = new Nuansa.Tokenization.Encoding([1], [0], ["x"], [(0, 1)], [false], [1]);
        var examples = new[] { 0, 0, 0, 0, 0, 1, 1, 2 }.Select((label, i) => new Nuansa.Training.Trainer.Example(encoding, [label], null, i + 2)).ToList();
        var result = Nuansa.Training.Trainer.Oversample(examples, 1);
        Assert.Equal(15, result.Count);
        Assert.All(result.GroupBy(e => e.Labels[0]), g => Assert.Equal(5, g.Count()));
        Assert.Equal(examples, result.Take(8)); // the originals stay, in order
        Assert.Equal(result.Select(e => e.Line), Nuansa.Training.Trainer.Oversample(examples, 1).Select(e => e.Line)); // seeded
    }
}

public class ResumeTests
{
    [Fact]
    public void AResumedRunEndsWithExactlyTheWeightsOfAnUninterruptedOne()
    {
        // With dropout on (the fixture keeps HF's 0.1), shuffling, and accumulation: every source of randomness must line up.
        using var dir = new TempDirectory();
        var random = new Random(9);
        string[] words = ["fine", "good", "bad", "poor", "film", "plot", "the", "was"];
        File.WriteAllLines(dir.File("train.tsv"), ["text\tlabel", .. Enumerable.Range(0, 96).Select(i =>
            $"{string.Join(' ', Enumerable.Range(0, 5).Select(_ => words[random.Next(words.Length)]))}\t{(i % 3 == 0 ? "positive" : i % 3 == 1 ? "neutral" : "negative")}")]);
        string[] common = ["train", "--validation-split", "0.1", "--model", SharedFiles.Model("bert-pair-3label"), "--train", dir.File("train.tsv"), "--num-train-epochs", "3",
            "--per-device-train-batch-size", "8", "--gradient-accumulation-steps", "2", "--learning-rate", "1e-3", "--warmup-ratio", "0.2",
            "--weight-decay", "0.01", "--metric-for-best-model", "accuracy", "--load-best-model-at-end", "--seed", "4"];
        var (code, _, error) = CliRunner.Run([.. common, "--output", dir.File("full"), "--checkpoint-dir", dir.File("ckpt")], "");
        Assert.True(code == 0, error);
        var checkpoints = Directory.GetDirectories(dir.File("ckpt")).Order().ToArray();
        Assert.Equal(2, checkpoints.Length); // after epochs 1 and 2; the final weights are the output itself

        (code, _, error) = CliRunner.Run([.. common, "--output", dir.File("resumed"), "--resume-from-checkpoint", checkpoints[0], "--no-checkpoints"], "");
        Assert.True(code == 0, error);
        Assert.Equal(File.ReadAllBytes(Path.Combine(dir.File("full"), "model.safetensors")), File.ReadAllBytes(Path.Combine(dir.File("resumed"), "model.safetensors")));
        Assert.Equal(File.ReadAllLines(Path.Combine(dir.File("full"), "trainer_log.jsonl")), File.ReadAllLines(Path.Combine(dir.File("resumed"), "trainer_log.jsonl")));
        Assert.False(Directory.Exists(dir.File("resumed-checkpoints")));
    }
}

/// <summary>Training reads rows as classify does: a context column goes first, as the model will be given it.</summary>
public class TrainingInputTests
{
    [Fact]
    public void AContextColumnTrainsPairs()
    {
        using var dir = new TempDirectory();
        File.WriteAllLines(dir.File("t.jsonl"), [
            """{"context": "service", "text": "the staff were kind", "label": "positive"}""",
            """{"context": "price", "text": "far too expensive", "label": "negative"}"""]);
        var (code, _, error) = CliRunner.Run("train", "--model", SharedFiles.Model("bert-pair-3label"), "--train", dir.File("t.jsonl"), "--output", dir.File("out"),
            "--max-steps", "1", "--no-checkpoints");
        Assert.True(code == 0, error);
        using var args = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dir.File("out"), Nuansa.Training.Trainer.SummaryFileName)));
        Assert.True(args.RootElement.GetProperty("pairs").GetBoolean());
    }
}
