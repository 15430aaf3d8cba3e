using System.Text.Json.Nodes;
using Nuansa.Inference;
using Nuansa.Tests.Cli;

namespace Nuansa.Tests.Inference;

/// <summary>Chained classifiers: gates, alerts, the pipeline file, the CLI command; expectations from each model run alone.</summary>
public class PipelineTests
{
    private static readonly TextInput[] Inputs =
    [
        "the food was great", "terrible service", "okay I guess", "prices went up again", "what a lovely day",
        TextInput.WithContext("harga sembako", "harga beras naik terus"), "no opinion", "absolutely wonderful",
    ];

    private static string WriteFile(TempDirectory dir, string json)
    {
        var path = dir.File("pipeline.json");
        File.WriteAllText(path, json);
        return path;
    }

    [Fact]
    public void GatesStopWhatTheyDoNotKeepAndAlertsFireOverTheirThreshold()
    {
        // Gate: bert-2label keeps "negative" at 0.7 or more; then the 5-label emotion model; alert on Frustrasi or Marah ≥ 0.3.
        // (The fixtures are random tiny models: these thresholds split the inputs both ways.)
        using var gate = TextClassifier.Load(SharedFiles.Model("bert-2label"));
        using var emotion = TextClassifier.Load(SharedFiles.Model("bert-5label-emotion-f16"));
        using var pipeline = Pipeline.Create(
            [new PipelineStep("relevancy", SharedFiles.Model("bert-2label"), ["negative"], 0.7), new PipelineStep("emotion", SharedFiles.Model("bert-5label-emotion-f16"))],
            [new PipelineAlert("escalate", "emotion", ["Frustrasi", "Marah"], 0.3)]);
        var results = pipeline.Run(Inputs, new ClassifyOptions { TopK = null });
        var kept = 0;
        for (var i = 0; i < Inputs.Length; i++)
        {
            var g = gate.ClassifyBatch([Inputs[i]], new ClassifyOptions { TopK = null })[0];
            Assert.Equal(g.Labels, results[i].Steps["relevancy"].Labels);
            var passes = g.Top.Label == "negative" && g.Top.Score >= 0.7f;
            Assert.Equal(passes, results[i].Kept);
            if (!passes)
            {
                Assert.Equal("relevancy", results[i].StoppedAt);
                Assert.False(results[i].Steps.ContainsKey("emotion"));
                Assert.Empty(results[i].Alerts);
                continue;
            }
            kept++;
            var e = emotion.ClassifyBatch([Inputs[i]], new ClassifyOptions { TopK = null })[0];
            Assert.Equal(e.Labels, results[i].Steps["emotion"].Labels);
            var fires = e.Labels.Any(l => l.Label is "Frustrasi" or "Marah" && l.Score >= 0.3f);
            Assert.Equal(fires ? ["escalate"] : Array.Empty<string>(), results[i].Alerts);
        }
        Assert.InRange(kept, 1, Inputs.Length - 1); // the gate both keeps and stops some of these inputs
        Assert.Contains(results, r => r.Alerts.Count > 0);
        Assert.Contains(results, r => r.Kept && r.Alerts.Count == 0);

        // top_k trims what is shown, not what the gates and alerts read.
        var top1 = pipeline.Run(Inputs, new ClassifyOptions { TopK = 1 });
        Assert.All(top1, r => Assert.All(r.Steps.Values, c => Assert.Single(c.Labels)));
        Assert.Equal(results.Select(r => r.Alerts.Count), top1.Select(r => r.Alerts.Count));
    }

    [Theory]
    [InlineData("[]", "expected an object with a \"steps\" list")]
    [InlineData("{\"steps\": []}", "at least one step")]
    [InlineData("{\"steps\": [{\"model\": \"m\"}]}", "step 1 needs a non-empty \"name\"")]
    [InlineData("{\"steps\": [{\"name\": \"a\", \"model\": \"MODEL\", \"keep\": [\"nope\"]}]}", "keeps label 'nope'")]
    [InlineData("{\"steps\": [{\"name\": \"a\", \"model\": \"MODEL\", \"keep\": [\"negative\"], \"min_score\": 2}]}", "from 0 to 1")]
    [InlineData("{\"steps\": [{\"name\": \"a\", \"model\": \"MODEL\", \"min_score\": 0.5}]}", "applies to a gate")]
    [InlineData("{\"steps\": [{\"name\": \"a\", \"model\": \"MODEL\"}], \"alerts\": [{\"name\": \"x\", \"step\": \"b\", \"labels\": [\"negative\"]}]}", "watches step 'b'")]
    [InlineData("{\"steps\": [{\"name\": \"a\", \"model\": \"MODEL\"}], \"alerts\": [{\"name\": \"x\", \"step\": \"a\", \"labels\": [\"angry\"]}]}", "watches label 'angry'")]
    [InlineData("{\"steps\": [{\"name\": \"a\", \"model\": \"MODEL\", \"modle\": 1}]}", "unknown field \"modle\"")]
    [InlineData("{\"steps\": [{\"name\": \"a\", \"model\": \"MODEL\"}, {\"name\": \"a\", \"model\": \"MODEL\"}]}", "Two pipeline steps are named 'a'")]
    public void BadPipelineFilesSayWhatIsWrong(string json, string message)
    {
        using var dir = new TempDirectory();
        var path = WriteFile(dir, json.Replace("MODEL", SharedFiles.Model("bert-2label").Replace("\\", "\\\\", StringComparison.Ordinal), StringComparison.Ordinal));
        var e = Assert.ThrowsAny<NuansaException>(() => Pipeline.Load(path));
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void NuansaPipelineWritesStepsGatesAndAlertsPerLine()
    {
        using var dir = new TempDirectory();
        // Model folders relative to the pipeline file.
        var relative = Path.GetRelativePath(dir.Path, SharedFiles.Model("bert-2label"));
        var emotion = Path.GetRelativePath(dir.Path, SharedFiles.Model("bert-5label-emotion-f16"));
        var config = WriteFile(dir, $$"""
            {"steps": [{"name": "relevancy", "model": "{{relative}}", "keep": ["negative"], "min_score": 0.7},
                       {"name": "emotion", "model": "{{emotion}}"}],
             "alerts": [{"name": "escalate", "step": "emotion", "labels": ["Frustrasi", "Marah"], "min_score": 0.3}]}
            """);
        File.WriteAllLines(dir.File("in.jsonl"), Inputs.Select(i => new JsonObject { ["text"] = i.Text, ["text_pair"] = i.TextPair }.ToJsonString()));
        var (code, _, error) = CliRunner.Run("pipeline", "--config", config, "--input", dir.File("in.jsonl"), "--output", dir.File("out.jsonl"));
        Assert.True(code == 0, error);
        var lines = File.ReadAllLines(dir.File("out.jsonl")).Select(l => JsonNode.Parse(l)!).ToArray();
        using var pipeline = Pipeline.Load(config);
        var expected = pipeline.Run(Inputs);
        Assert.Equal(Inputs.Length, lines.Length);
        for (var i = 0; i < lines.Length; i++)
        {
            Assert.Equal(i + 1, lines[i]["line"]!.GetValue<int>());
            Assert.Equal(expected[i].Kept, lines[i]["kept"]!.GetValue<bool>());
            Assert.Equal(expected[i].StoppedAt, lines[i]["stopped_at"]?.GetValue<string>());
            Assert.Equal(expected[i].Alerts, lines[i]["alerts"]!.AsArray().Select(a => a!.GetValue<string>()));
            Assert.Equal(expected[i].Steps.Keys, lines[i]["steps"]!.AsObject().Select(p => p.Key));
        }
        (code, _, error) = CliRunner.Run("pipeline", "--config", dir.File("missing.json"), "x");
        Assert.Equal(1, code);
        Assert.Contains("no such pipeline file", error, StringComparison.Ordinal);
    }
}

public class PipelineStepInputTests
{
    [Fact]
    public void ATextStepBehindAPairGateReadsTheTextAlone()
    {
        // The pair gate reads (context, text); the single-text emotion step reads the text as it would alone.
        using var dir = new TempDirectory();
        var file = dir.File("p.json");
        File.WriteAllText(file, $$"""
            {"steps": [{"name": "aspect", "model": "{{SharedFiles.Model("bert-pair-3label").Replace("\\", "\\\\", StringComparison.Ordinal)}}"},
                       {"name": "emotion", "model": "{{SharedFiles.Model("bert-5label-emotion-f16").Replace("\\", "\\\\", StringComparison.Ordinal)}}", "input": "text"}]}
            """);
        using var pipeline = Pipeline.Load(file);
        using var pair = TextClassifier.Load(SharedFiles.Model("bert-pair-3label"));
        using var emotion = TextClassifier.Load(SharedFiles.Model("bert-5label-emotion-f16"));
        var input = TextInput.WithContext("pelayanan", "pelayanannya lambat sekali, saya kesal");
        var result = pipeline.Run([input], new ClassifyOptions { TopK = null })[0];
        Assert.Equal(pair.ClassifyBatch([input], new ClassifyOptions { TopK = null })[0].Labels, result.Steps["aspect"].Labels);
        var alone = emotion.Classify("pelayanannya lambat sekali, saya kesal", new ClassifyOptions { TopK = null });
        Assert.Equal(alone.Labels, result.Steps["emotion"].Labels);
        // Fed the pair it would score differently: the field matters.
        Assert.NotEqual(emotion.ClassifyBatch([input], new ClassifyOptions { TopK = null })[0].Labels, result.Steps["emotion"].Labels);

        File.WriteAllText(file, """{"steps": [{"name": "x", "model": "m", "input": "both"}]}""");
        Assert.Contains("\"input\" must be \"pair\"", Assert.Throws<NuansaException>(() => Pipeline.Load(file)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void PipelineJsonLinesIncludeTheInput()
    {
        using var dir = new TempDirectory();
        var file = dir.File("p.json");
        File.WriteAllText(file, $$"""{"steps": [{"name": "s", "model": "{{SharedFiles.Model("bert-2label")}}"}]}""");
        var (code, output, error) = Nuansa.Tests.Cli.CliRunner.Run(["pipeline", "--config", file, "--input", "-"], "{\"text\": \"ctx\", \"text_pair\": \"a fine day\"}\n");
        Assert.True(code == 0, error);
        var line = System.Text.Json.Nodes.JsonNode.Parse(output)!;
        Assert.Equal("ctx", line["text"]!.GetValue<string>());
        Assert.Equal("a fine day", line["text_pair"]!.GetValue<string>());
    }
}
