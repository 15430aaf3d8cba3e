using Nuansa.Evaluation;
using Nuansa.Inference;
using Nuansa.Tests.Cli;

namespace Nuansa.Tests.Evaluation;

/// <summary>Alert thresholds: the precision–recall curve by hand, the target rules, the command and the pipeline it writes.</summary>
public class ThresholdsTests
{
    [Fact]
    public void TheCurveAndTheChoiceMatchAHandWorkedExample()
    {
        // Scores 0.9 0.8 0.7 0.6 0.55 0.4 with positives + + − + − −:
        // ≥0.9: 1/1 P 1 R 1/3; ≥0.8: 2/2 P 1 R 2/3; ≥0.7: 2/3 P .667 R .667; ≥0.6: 3/4 P .75 R 1; ≥0.55: 3/5 P .6; ≥0.4: 3/6 P .5.
        double[] scores = [0.9, 0.8, 0.7, 0.6, 0.55, 0.4];
        bool[] positive = [true, true, false, true, false, false];
        var curve = Thresholds.Curve(scores, positive);
        Assert.Equal([0.9, 0.8, 0.7, 0.6, 0.55, 0.4], curve.Select(c => c.Threshold));
        Assert.Equal([1, 1, 2 / 3.0, 0.75, 0.6, 0.5], curve.Select(c => c.Precision), new ToleranceComparer());
        Assert.Equal([1 / 3.0, 2 / 3.0, 2 / 3.0, 1, 1, 1], curve.Select(c => c.Recall), new ToleranceComparer());
        // Precision ≥ 0.75: the lowest such threshold, 0.6 (recall 1). Recall ≥ 0.6: the highest such, 0.8 (precision 1).
        Assert.Equal(0.6, Thresholds.Choose(curve, 0.75, null)!.Value.Threshold);
        Assert.Equal(0.8, Thresholds.Choose(curve, null, 0.6)!.Value.Threshold);
        Assert.Null(Thresholds.Choose(Thresholds.Curve([0.5, 0.4], [false, true]), 0.9, null));
        // Tied scores are one point.
        Assert.Equal(2, Thresholds.Curve([0.5, 0.5, 0.2], [true, false, true]).Count);
        Assert.Throws<NuansaException>(() => Thresholds.Curve([0.5], [false]));
    }

    private sealed class ToleranceComparer : IEqualityComparer<double>
    {
        public bool Equals(double x, double y) => Math.Abs(x - y) < 1e-9;
        public int GetHashCode(double obj) => 0;
    }

    [Fact]
    public void TheCommandChoosesWhatTheLibraryChoosesAndWritesAWorkingAlert()
    {
        using var dir = new TempDirectory();
        var model = SharedFiles.Model("bert-5label-emotion-f16");
        using var classifier = TextClassifier.Load(model);
        string[] texts = ["saya marah sekali", "pelayanan lambat", "terima kasih banyak", "kenapa begini terus", "senang sekali hari ini",
            "sudah tiga kali komplain", "biasa saja", "tolong segera diproses", "kecewa berat", "mantap"];
        var gold = texts.Select((_, i) => classifier.Labels[i % classifier.Labels.Count]).ToArray();
        File.WriteAllLines(dir.File("data.tsv"), ["text\tlabel", .. texts.Select((t, i) => $"{t}\t{gold[i]}")]);
        var label = classifier.Labels[0];
        File.WriteAllText(dir.File("p.json"), $$"""{"steps": [{"name": "emotion", "model": "{{model}}"}]}""");

        var (code, output, error) = CliRunner.Run("thresholds", "--model", model, "--data", dir.File("data.tsv"), "--label", label,
            "--target-recall", "0.5", "--write", dir.File("p.json"), "--chart", dir.File("pr.png"));
        Assert.True(code == 0, error);
        var scores = classifier.ClassifyBatch([.. texts.Select(t => new TextInput(t))], new ClassifyOptions { TopK = null })
            .Select(r => (double)r.Labels.First(l => l.Label == label).Score).ToArray();
        var expected = Thresholds.Choose(Thresholds.Curve(scores, [.. gold.Select(g => g == label)]), null, 0.5)!.Value;
        Assert.Contains(FormattableString.Invariant($"chosen: {expected.Threshold:0.####}"), output, StringComparison.Ordinal);
        Assert.True(new FileInfo(dir.File("pr.png")).Length > 1000);

        using var pipeline = Pipeline.Load(dir.File("p.json"));
        var alert = Assert.Single(pipeline.Alerts);
        Assert.Equal(("escalate", "emotion"), (alert.Name, alert.Step));
        Assert.Equal(Math.Floor(expected.Threshold * 10_000) / 10_000, alert.Threshold(label));
        var results = pipeline.Run([.. texts.Select(t => new TextInput(t))], new ClassifyOptions { TopK = null });
        for (var i = 0; i < texts.Length; i++)
            Assert.Equal(scores[i] >= Math.Floor(expected.Threshold * 10_000) / 10_000, results[i].Alerts.Contains("escalate"));
    }
}
