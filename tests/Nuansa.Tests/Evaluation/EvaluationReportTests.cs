using System.Text.Json;
using Nuansa.Evaluation;
using Nuansa.Tests.Cli;

namespace Nuansa.Tests.Evaluation;

public class EvaluationReportTests
{
    [Fact]
    public void CalibrationErrorMatchesAHandWorkedExample()
    {
        // Confidences 0.95, 0.95 (one right) and 0.65 × 3 (two right): |0.5 − 0.95|·2/5 + |2/3 − 0.65|·3/5 = 0.18 + 0.01 = 0.19.
        var (ece, bins) = EvaluationReport.Calibration([0, 1, 0, 1, 1], [0, 0, 0, 1, 0], [0.95, 0.95, 0.65, 0.65, 0.65], 10);
        Assert.Equal(0.19, ece, 12);
        Assert.Equal(2, bins.Count);
    }

    [Fact]
    public void PercentilesInterpolateLikeNumpy()
    {
        // numpy.percentile([1, 2, 3, 4], 2.5) = 1.075 and (…, 97.5) = 3.925
        Assert.Equal(1.075, EvaluationReport.Percentile([4, 1, 3, 2], 2.5), 12);
        Assert.Equal(3.925, EvaluationReport.Percentile([4, 1, 3, 2], 97.5), 12);
    }

    [Fact]
    public void BootstrapIntervalsAreSeededAndContainThePointEstimate()
    {
        var random = new Random(1);
        var gold = Enumerable.Range(0, 300).Select(_ => random.Next(3)).ToArray();
        var predicted = gold.Select(g => random.NextDouble() < 0.8 ? g : (g + 1) % 3).ToArray();
        var confidence = predicted.Select(_ => 0.5 + random.NextDouble() / 2).ToArray();
        var a = EvaluationReport.Compute(["a", "b", "c"], gold, predicted, confidence, new EvaluationOptions { BootstrapResamples = 500, Seed = 3 });
        var b = EvaluationReport.Compute(["a", "b", "c"], gold, predicted, confidence, new EvaluationOptions { BootstrapResamples = 500, Seed = 3 });
        foreach (var name in EvaluationReport.HeadlineMetrics)
        {
            Assert.Equal(a.Bootstrap[name], b.Bootstrap[name]);
            Assert.InRange(a.Metrics[name], a.Bootstrap[name].Low, a.Bootstrap[name].High);
            Assert.True(a.Bootstrap[name].High - a.Bootstrap[name].Low is > 0.02 and < 0.2);
        }
    }

    [Fact]
    public void ScoresAPredictionsFileIntoTheDocumentedMetricsJson()
    {
        // The hand-worked example of ClassificationMetricsTests: gold 0 0 1 1 2 2 2, predicted 0 1 1 1 2 0 2.
        string[] names = ["neg", "neu", "pos"];
        int[] gold = [0, 0, 1, 1, 2, 2, 2], predicted = [0, 1, 1, 1, 2, 0, 2];
        using var dir = new TempDirectory();
        File.WriteAllLines(dir.File("predictions.jsonl"), gold.Select((g, i) => JsonSerializer.Serialize(new
        {
            labels = new[] { new { label = names[predicted[i]], score = 0.9 } },
            logits = new[] { 0.0 },
            label = names[g],
        })));
        var (code, output, error) = CliRunner.Run("eval", "--predictions", dir.File("predictions.jsonl"), "--output", dir.File("out"), "--bootstrap", "200");
        Assert.True(code == 0, error);
        Assert.Contains("accuracy 0.7143", output);
        using var metrics = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dir.File("out"), "metrics.json")));
        var m = metrics.RootElement;
        Assert.Equal(5.0 / 7, m.GetProperty("accuracy").GetDouble(), 12);
        Assert.Equal(0.7, m.GetProperty("f1_macro").GetDouble(), 12);
        Assert.Equal(19.0 / 32, m.GetProperty("mcc").GetDouble(), 12);
        foreach (var key in new[] { "precision_macro", "recall_macro", "f1_weighted", "f1_micro", "ece" })
            Assert.True(m.TryGetProperty(key, out _), key);
        Assert.Equal(0.8, m.GetProperty("per_class").GetProperty("neu").GetProperty("f1").GetDouble(), 12);
        Assert.Equal(3, m.GetProperty("per_class").GetProperty("pos").GetProperty("support").GetInt32());
        Assert.Equal(["neg", "neu", "pos"], m.GetProperty("confusion_matrix").GetProperty("labels").EnumerateArray().Select(l => l.GetString()));
        Assert.Equal(1, m.GetProperty("confusion_matrix").GetProperty("matrix")[2][0].GetInt32());
        Assert.True(m.GetProperty("bootstrap").GetProperty("accuracy").GetProperty("low").GetDouble() <= 5.0 / 7);
        Assert.Equal(7, File.ReadAllLines(Path.Combine(dir.File("out"), "predictions.jsonl")).Length);
        var report = File.ReadAllText(Path.Combine(dir.File("out"), "report.md"));
        Assert.Contains("| neu | 0.6667 | 1.0000 | 0.8000 | 2 |", report);
        foreach (var chart in new[] { "confusion_matrix.png", "per_class.png", "reliability.png" })
        {
            var bytes = File.ReadAllBytes(Path.Combine(dir.File("out"), chart));
            Assert.True(bytes.Length > 5000, chart);
            Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], bytes[..4]);
            Assert.Contains($"({chart})", report);
        }
    }

    [Fact]
    public void EvaluatesAModelOnLabelledData()
    {
        // Gold labels = HF's own predictions for the fixture inputs, so the model must score 1.0.
        var folder = SharedFiles.Model("bert-pair-3label");
        using var inputs = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(folder, "inputs.json")));
        using var expected = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(folder, "expected.json")));
        using var dir = new TempDirectory();
        File.WriteAllLines(dir.File("data.jsonl"), inputs.RootElement.GetProperty("texts").EnumerateArray().Zip(expected.RootElement.GetProperty("predicted").EnumerateArray())
            .Select(p => JsonSerializer.Serialize(new { text = p.First.GetProperty("text").GetString(), text_pair = p.First.GetProperty("text_pair").GetString(), label = p.Second.GetString() })));
        var (code, output, error) = CliRunner.Run("eval", "--model", folder, "--data", dir.File("data.jsonl"), "--output", dir.File("out"), "--max-length", "32");
        Assert.True(code == 0, error);
        Assert.Contains("accuracy 1.0000", output);
        var predictions = File.ReadAllLines(Path.Combine(dir.File("out"), "predictions.jsonl"));
        Assert.Equal(12, predictions.Length);
        Assert.Contains("\"label\":", predictions[0]);
    }

    [Fact]
    public void GroupsGetTheirOwnMetrics()
    {
        // Gold [0, 1, 1, 0, 1], predicted [0, 1, 0, 0, 1], groups [en, en, id, id, (none)]:
        // en 2/2 right, id 1/2 right (gold 1 predicted 0), (none) 1/1.
        int[] gold = [0, 1, 1, 0, 1];
        int[] predicted = [0, 1, 0, 0, 1];
        var report = EvaluationReport.Compute(["neg", "pos"], gold, predicted, [0.9, 0.8, 0.6, 0.7, 0.9], new EvaluationOptions { BootstrapResamples = 0 })
            .WithGroups(["en", "en", "id", "id", "(none)"], gold, predicted);
        Assert.Equal(["(none)", "en", "id"], report.Groups.Select(g => g.Group));
        Assert.Equal([1, 2, 2], report.Groups.Select(g => g.Metrics.Count));
        Assert.Equal([1.0, 1.0, 0.5], report.Groups.Select(g => g.Metrics.Accuracy));
        // id: class neg precision 1/2, recall 1; class pos precision 0, recall 0 → F1 (2/3 + 0) / 2.
        Assert.Equal(1.0 / 3, report.Groups[2].Metrics.F1Macro, 10);
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream))
            report.WriteJson(json);
        var groups = JsonDocument.Parse(stream.ToArray()).RootElement.GetProperty("groups");
        Assert.Equal(0.5, groups.GetProperty("id").GetProperty("accuracy").GetDouble());
        Assert.Equal(2, groups.GetProperty("en").GetProperty("count").GetInt32());
        Assert.Contains("| id | 2 | 0.5000 | 0.3333 |", report.ToMarkdown("t"), StringComparison.Ordinal);
    }

    [Fact]
    public void NuansaEvalReportsEachGroup()
    {
        var folder = SharedFiles.Model("bert-2label");
        using var dir = new TempDirectory();
        File.WriteAllLines(dir.File("data.tsv"), ["text\tlabel\tlang", "good film\tpositive\ten", "bad film\tnegative\ten", "film bagus\tpositive\tid", "film jelek\tnegative\tid", "meh\tnegative\t"]);
        var (code, _, error) = CliRunner.Run("eval", "--model", folder, "--data", dir.File("data.tsv"), "--output", dir.File("out"), "--group-column", "lang", "--bootstrap", "0");
        Assert.True(code == 0, error);
        using var metrics = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dir.File("out"), "metrics.json")));
        var groups = metrics.RootElement.GetProperty("groups");
        Assert.Equal(["(none)", "en", "id"], groups.EnumerateObject().Select(p => p.Name));
        // Each group's accuracy is its share of right predictions in predictions.jsonl.
        var lines = File.ReadAllLines(Path.Combine(dir.File("out"), "predictions.jsonl")).Select(l => JsonDocument.Parse(l).RootElement).ToArray();
        var right = lines.Select(l => l.GetProperty("labels")[0].GetProperty("label").GetString() == l.GetProperty("label").GetString()).ToArray();
        Assert.Equal(right.Take(2).Count(r => r) / 2.0, groups.GetProperty("en").GetProperty("accuracy").GetDouble());
        Assert.Equal(right.Skip(2).Take(2).Count(r => r) / 2.0, groups.GetProperty("id").GetProperty("accuracy").GetDouble());
        // The model card shows the groups too.
        foreach (var f in Directory.GetFiles(folder))
            File.Copy(f, Path.Combine(Directory.CreateDirectory(dir.File("model")).FullName, Path.GetFileName(f)));
        (code, _, error) = CliRunner.Run("card", "--model", dir.File("model"), "--eval", dir.File("out"), "--force");
        Assert.True(code == 0, error);
        Assert.Matches(@"\| id \| 2 \| [01]\.\d{4} \| ", File.ReadAllText(Path.Combine(dir.File("model"), "README.md")));
        (code, _, error) = CliRunner.Run("eval", "--model", folder, "--data", dir.File("data.tsv"), "--output", dir.File("out2"), "--group-column", "country");
        Assert.Equal(1, code);
        Assert.Contains("no column \"country\"", error);
    }
}
