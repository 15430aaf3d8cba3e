using System.Text.Json.Nodes;
using Nuansa.Inference;
using Nuansa.Tests.Cli;

namespace Nuansa.Tests.Inference;

/// <summary>Uncertainty sampling: each strategy on hand-worked distributions, the ranking, and the command.</summary>
public class UncertaintyTests
{
    private static Classification Single(params float[] scores) =>
        new SingleLabelClassification([.. scores.Select((s, i) => new LabelScore($"l{i}", s)).OrderByDescending(l => l.Score)], new float[scores.Length]);

    private static Classification MultiLabel(params float[] scores) =>
        new MultiLabelClassification([.. scores.Select((s, i) => new LabelScore($"l{i}", s)).OrderByDescending(l => l.Score)], new float[scores.Length]);

    [Fact]
    public void StrategiesMatchHandComputedValues()
    {
        var c = Single(0.5f, 0.3f, 0.2f);
        // Entropy: −(0.5 ln 0.5 + 0.3 ln 0.3 + 0.2 ln 0.2) = 1.0296530; margin: 1 − (0.5 − 0.3) = 0.8; least confidence: 0.5.
        Assert.Equal(1.0296530, Uncertainty.Score(c, UncertaintyStrategy.Entropy), 5);
        Assert.Equal(0.8, Uncertainty.Score(c, UncertaintyStrategy.Margin), 6);
        Assert.Equal(0.5, Uncertainty.Score(c, UncertaintyStrategy.LeastConfidence), 6);
        Assert.Equal(0, Uncertainty.Score(Single(1f, 0f), UncertaintyStrategy.Entropy), 12);

        // Multi-label: each label is its own yes/no question; sigmoid 0.5 is the most uncertain.
        var multi = MultiLabel(0.5f, 0.9f);
        Assert.Equal((Math.Log(2) + -(0.9 * Math.Log(0.9) + 0.1 * Math.Log(0.1))) / 2, Uncertainty.Score(multi, UncertaintyStrategy.Entropy), 5);
        // Multi-task: the mean over tasks.
        var tasks = new MultiTaskClassification(new Dictionary<string, IReadOnlyList<LabelScore>>
        {
            ["a"] = [new("x", 0.6f), new("y", 0.4f)],
            ["b"] = [new("x", 1f), new("y", 0f)],
        }, new float[4]);
        Assert.Equal((1 - 0.2) / 2, Uncertainty.Score(tasks, UncertaintyStrategy.Margin), 6);
    }

    [Fact]
    public void RankingPutsTheLeastSureFirst()
    {
        var ranked = Uncertainty.Rank([Single(0.9f, 0.1f), Single(0.55f, 0.45f), Single(0.7f, 0.3f), Single(0.55f, 0.45f)], UncertaintyStrategy.Margin);
        Assert.Equal([1, 3, 2, 0], ranked.Select(r => r.Index));
    }

    [Fact]
    public void NuansaUncertainListsWhatToAnnotateNext()
    {
        using var dir = new TempDirectory();
        string[] texts = ["the food was great", "terrible service", "okay I guess", "prices went up again", "what a lovely day"];
        File.WriteAllLines(dir.File("pool.tsv"), ["text", .. texts]);
        var (code, _, error) = CliRunner.Run("uncertain", "--model", SharedFiles.Model("bert-5label-emotion-f16"), "--input", dir.File("pool.tsv"),
            "--output", dir.File("next.jsonl"), "--top", "3");
        Assert.True(code == 0, error);
        var lines = File.ReadAllLines(dir.File("next.jsonl")).Select(l => JsonNode.Parse(l)!).ToArray();
        Assert.Equal(3, lines.Length);
        using var classifier = TextClassifier.Load(SharedFiles.Model("bert-5label-emotion-f16"));
        var expected = Uncertainty.Rank(classifier.ClassifyBatch([.. texts.Select(t => new TextInput(t))], new ClassifyOptions { TopK = null }), UncertaintyStrategy.Entropy);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(texts[expected[i].Index], lines[i]["text"]!.GetValue<string>());
            Assert.Equal(expected[i].Index + 2, lines[i]["line"]!.GetValue<int>()); // line 1 is the header
            Assert.Equal(expected[i].Score, lines[i]["uncertainty"]!.GetValue<double>(), 5);
            Assert.Equal(5, lines[i]["labels"]!.AsArray().Count);
        }
    }
}
