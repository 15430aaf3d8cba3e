using System.Net;
using System.Text.Json.Nodes;
using Nuansa.Inference;
using Nuansa.Server;

namespace Nuansa.Tests.Cli;

/// <summary>A plain checkpoint read as multi-task with --tasks / --task-labels on eval, uncertain and serve, as on classify.</summary>
public class MultiTaskOptionsTests
{
    private static readonly string Model = SharedFiles.Model("bert-multilabel-4-bf16");
    private static readonly TaskHead[] Tasks = [new("a", ["no", "yes"]), new("b", ["no", "yes"])];

    [Fact]
    public void EvalAndUncertainTakeTasks()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("data.tsv"), "text\ta\tb\nfine day\tyes\tno\nbad day\tno\tyes\nok\tyes\tyes\n");
        var (code, output, error) = CliRunner.Run("eval", "--model", Model, "--data", dir.File("data.tsv"), "--output", dir.File("eval"), "--tasks", "a,b", "--task-labels", "no,yes");
        Assert.True(code == 0, error);
        Assert.Contains("2 tasks", output, StringComparison.Ordinal);
        var metrics = JsonNode.Parse(File.ReadAllText(dir.File("eval/metrics.json")))!;
        // Task a's accuracy is what the library's own multi-task reading gives.
        using var classifier = TextClassifier.Load(Model, new TextClassifierOptions { Tasks = Tasks });
        var predicted = classifier.ClassifyBatch([new TextInput("fine day"), new TextInput("bad day"), new TextInput("ok")]).Select(r => r.Tasks!["a"][0].Label).ToArray();
        var accuracy = predicted.Zip(new[] { "yes", "no", "yes" }).Count(p => p.First == p.Second) / 3.0;
        Assert.Equal(accuracy, metrics["tasks"]!["a"]!["accuracy"]!.GetValue<double>(), 6);
        // The console shows one aligned line per task.
        Assert.Matches(FormattableString.Invariant($@"\n  a +{accuracy:0.0000} "), output);

        (code, output, error) = CliRunner.Run("uncertain", "--model", Model, "--input", dir.File("data.tsv"), "--tasks", "a,b", "--task-labels", "no,yes");
        Assert.True(code == 0, error);
        Assert.All(output.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => Assert.NotNull(JsonNode.Parse(l)!["tasks"]!["b"]));
    }

    [Fact]
    public async Task ServeTakesTasks()
    {
        await using var server = NuansaServer.Create(new ServerOptions { Models = [("m", Model)], Url = "http://127.0.0.1:0", Tasks = Tasks });
        await server.StartAsync();
        using var client = new HttpClient { BaseAddress = new Uri(server.Addresses[0]) };
        using var response = await client.PostAsync("/predict", new StringContent("""{"inputs": "a text"}""", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var answer = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal(["a", "b"], answer.AsObject().Select(p => p.Key));
    }

    [Fact]
    public void APipelineStepTakesTasksAndAlertsOnTaskLabels()
    {
        // A single-label gate, then a plain 4-output checkpoint read as two yes/no tasks, with an alert on "b/yes".
        using var dir = new TempDirectory();
        using var classifier = TextClassifier.Load(Model, new TextClassifierOptions { Tasks = Tasks });
        var scoreB = classifier.Classify("a text", new ClassifyOptions { TopK = null }).Tasks!["b"].Single(l => l.Label == "yes").Score;
        File.WriteAllText(dir.File("p.json"), $$"""
            {"steps": [{"name": "gate", "model": "{{SharedFiles.Model("bert-2label")}}"},
                       {"name": "topics", "model": "{{Model}}", "tasks": [{"name": "a", "labels": ["no", "yes"]}, {"name": "b", "labels": ["no", "yes"]}]}],
             "alerts": [{"name": "b-raised", "step": "topics", "labels": {"b/yes": {{FormattableString.Invariant($"{scoreB - 1e-4:0.######}")}} } },
                        {"name": "b-high", "step": "topics", "labels": {"b/yes": {{FormattableString.Invariant($"{Math.Min(1, scoreB + 1e-4):0.######}")}} } }]}
            """);
        var (code, output, error) = CliRunner.Run("pipeline", "--config", dir.File("p.json"), "a text", "--top-k", "all", "--output", dir.File("out.jsonl"));
        Assert.True(code == 0, error);
        var line = JsonNode.Parse(File.ReadAllText(dir.File("out.jsonl")))!;
        Assert.Equal(scoreB, line["steps"]!["topics"]!["b"]!.AsArray().Single(l => l!["label"]!.GetValue<string>() == "yes")!["score"]!.GetValue<float>());
        Assert.Equal(["b-raised"], line["alerts"]!.AsArray().Select(a => a!.GetValue<string>()));

        // Without tasks the 4 outputs are one multi-label head; a gate on a multi-task step or an unknown task label is refused before any work.
        File.WriteAllText(dir.File("bad.json"), $$"""{"steps": [{"name": "topics", "model": "{{Model}}", "keep": ["a/yes"], "tasks": [{"name": "a", "labels": ["no", "yes"]}, {"name": "b", "labels": ["no", "yes"]}]}]}""");
        (code, _, error) = CliRunner.Run("pipeline", "--config", dir.File("bad.json"), "a text");
        Assert.Equal(1, code);
        Assert.Contains("cannot be a gate", error);
        File.WriteAllText(dir.File("bad.json"), $$"""{"steps": [{"name": "topics", "model": "{{Model}}", "tasks": [{"name": "a", "labels": ["no", "yes"]}, {"name": "b", "labels": ["no", "yes"]}]}], "alerts": [{"name": "x", "step": "topics", "labels": ["c/yes"]}]}""");
        (code, _, error) = CliRunner.Run("pipeline", "--config", dir.File("bad.json"), "a text");
        Assert.Equal(1, code);
        Assert.Contains("'c/yes'", error);
        Assert.Contains("a/no, a/yes, b/no, b/yes", error);
    }
}
