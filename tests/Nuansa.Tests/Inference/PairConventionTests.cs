using System.Text.Json;
using System.Text.Json.Nodes;
using Nuansa.Inference;
using Nuansa.Redis;
using Nuansa.Server;
using Nuansa.Tests.Cli;
using Nuansa.Tests.Redis;
using StackExchange.Redis;

namespace Nuansa.Tests.Inference;

/// <summary>
/// One pair, every way in: the library, <c>classify --context</c>, a JSON Lines <c>context</c> field, the server's HF
/// and TEI formats and a Redis stream entry all give <c>[CLS] context [SEP] text [SEP]</c>, so the same scores. A
/// wire that swapped the two would score the pair as another input (0.61 instead of 0.83 in the report that found it).
/// </summary>
[Trait("Category", "Slow")]
public class PairConventionTests
{
    private static readonly string Model = SharedFiles.Model("bert-pair-3label");
    private const string Context = "the price of rice";
    private const string Text = "it keeps going up every week";

    private static float[] Scores(IEnumerable<(string Label, float Score)> labels, IReadOnlyList<string> order)
    {
        var byLabel = labels.ToDictionary(l => l.Label, l => l.Score);
        return [.. order.Select(l => byLabel[l])];
    }

    private static IEnumerable<(string, float)> FromJson(JsonNode? list) =>
        list!.AsArray().Select(l => (l!["label"]!.GetValue<string>(), l["score"]!.GetValue<float>()));

    [Fact]
    public async Task EveryEntryPointScoresTheContextFirst()
    {
        using var classifier = TextClassifier.Load(Model);
        var labels = classifier.Labels;
        var library = Scores(classifier.Classify(Context, Text, new ClassifyOptions { TopK = null }).Labels.Select(l => (l.Label, l.Score)), labels);
        var swapped = Scores(classifier.Classify(Text, Context, new ClassifyOptions { TopK = null }).Labels.Select(l => (l.Label, l.Score)), labels);
        Assert.True(library.Zip(swapped).Any(p => Math.Abs(p.First - p.Second) > 1e-3), "the fixture must tell the two orders apart");

        void Same(float[] actual, string where)
        {
            for (var k = 0; k < labels.Count; k++)
                Assert.True(Math.Abs(library[k] - actual[k]) <= 1e-5, $"{where}: {labels[k]} {actual[k]} vs {library[k]}");
        }

        // classify --context, and JSON Lines with a context field (and HF's text/text_pair with the context as text).
        var (code, output, error) = CliRunner.Run(["classify", "--model", Model, "--context", Context, "--top-k", "all", "--output", "-", Text], "");
        Assert.True(code == 0, error);
        Same(Scores(FromJson(JsonNode.Parse(output)!["labels"]), labels), "classify --context");
        var lines = JsonSerializer.Serialize(new { context = Context, text = Text }) + "\n";
        (code, output, error) = CliRunner.Run(["classify", "--model", Model, "--input", "-", "--top-k", "all"], lines);
        Assert.True(code == 0, error);
        Same(Scores(FromJson(JsonNode.Parse(output)!["labels"]), labels), "classify JSON Lines context");
        (code, output, error) = CliRunner.Run(["classify", "--model", Model, "--input", "-", "--top-k", "all"], JsonSerializer.Serialize(new { text = Context, text_pair = Text }) + "\n");
        Assert.True(code == 0, error);
        Same(Scores(FromJson(JsonNode.Parse(output)!["labels"]), labels), "classify JSON Lines text_pair");
        (code, _, error) = CliRunner.Run(["classify", "--model", Model, "--input", "-"], JsonSerializer.Serialize(new { context = Context, text = Text, text_pair = "x" }) + "\n");
        Assert.Equal(1, code);
        Assert.Contains("give one (context comes first", error, StringComparison.Ordinal);

        // The server: HF's {"context", "text"}, HF's {"text", "text_pair"} and TEI's [context, text].
        await using (var server = NuansaServer.Create(new ServerOptions { Models = [("pair", Model)], Url = "http://127.0.0.1:0" }))
        {
            await server.StartAsync();
            using var client = new HttpClient { BaseAddress = new Uri(server.Addresses[0]) };
            async Task<JsonNode> Post(string path, object body)
            {
                using var response = await client.PostAsync(path, new StringContent(JsonSerializer.Serialize(body), System.Text.Encoding.UTF8, "application/json"));
                var json = await response.Content.ReadAsStringAsync();
                Assert.True(response.IsSuccessStatusCode, json);
                return JsonNode.Parse(json)!;
            }
            Same(Scores(FromJson((await Post("/models/pair", new { inputs = new { context = Context, text = Text } }))[0]), labels), "server HF context");
            Same(Scores(FromJson((await Post("/models/pair", new { inputs = new { text = Context, text_pair = Text } }))[0]), labels), "server HF text_pair");
            Same(Scores(FromJson((await Post("/predict", new { inputs = new[] { Context, Text }, raw_scores = false }))), labels), "server TEI");
        }

        // A Redis stream entry with a context field, and one with HF's text_pair.
        using var redis = new RedisServerProcess();
        using var connection = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{redis.Port}");
        var db = connection.GetDatabase();
        await db.StreamAddAsync("in", [new("id", "c"), new("context", Context), new("text", Text)]);
        await db.StreamAddAsync("in", [new("id", "p"), new("text", Context), new("text_pair", Text)]);
        await db.StreamAddAsync("in", [new("id", "both"), new("context", Context), new("text", Text), new("text_pair", Text)]);
        var worker = new StreamWorker(classifier, new StreamWorkerOptions { Redis = redis.Url, Stream = "in", Group = "g", BlockMilliseconds = 50 });
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var run = worker.RunAsync(stop.Token);
        while (await db.StreamLengthAsync("in:results") < 2 || await db.StreamLengthAsync("in:dead") < 1)
        {
            Assert.False(stop.IsCancellationRequested, "the worker did not answer in time");
            await Task.Delay(50);
        }
        await stop.CancelAsync();
        try { await run; } catch (OperationCanceledException) { }
        foreach (var entry in await db.StreamRangeAsync("in:results"))
        {
            var labelsJson = JsonNode.Parse((string)entry["labels"]!)!["labels"];
            Same(Scores(FromJson(labelsJson), labels), $"worker entry {(string)entry["id"]!}");
        }
        var dead = Assert.Single(await db.StreamRangeAsync("in:dead"));
        Assert.Contains("both \"text_pair\" and \"context\"", (string)dead["error"]!, StringComparison.Ordinal);
    }
}
