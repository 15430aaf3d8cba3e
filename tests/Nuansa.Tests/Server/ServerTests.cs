using System.Net;

using System.Text.Json;
using System.Text.Json.Nodes;
using Nuansa.Server;
using Nuansa.Tests.Cli;
using Nuansa.Tokenization;

namespace Nuansa.Tests.Server;

/// <summary>The HTTP server, over real sockets: TEI's request and response format, errors, batching, info and metrics.</summary>
public sealed class ServerTests : IAsyncLifetime
{
    private NuansaServer _server = null!;
    private readonly HttpClient _client = new();
    private readonly TempDirectory _dir = new();

    public async Task InitializeAsync()
    {
        // A multi-task copy of a 4-label fixture: two tasks of two labels.
        var multi = _dir.File("multi");
        Directory.CreateDirectory(multi);
        foreach (var file in Directory.GetFiles(SharedFiles.Model("bert-multilabel-4-bf16")))
            File.Copy(file, Path.Combine(multi, Path.GetFileName(file)));
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(multi, "config.json")))!.AsObject();
        config.Remove("problem_type");
        config["nuansa_tasks"] = JsonNode.Parse("""[{"name": "a", "labels": ["no", "yes"]}, {"name": "b", "labels": ["low", "high"]}]""");
        File.WriteAllText(Path.Combine(multi, "config.json"), config.ToJsonString());

        _server = NuansaServer.Create(new ServerOptions
        {
            Models = [("pair", SharedFiles.Model("bert-pair-3label")), ("multi", multi)],
            Url = "http://127.0.0.1:0",
            MaxClientBatchSize = 4,
            MaxRequestBytes = 4096,
        });
        await _server.StartAsync();
        _client.BaseAddress = new Uri(_server.Addresses[0]);
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _server.DisposeAsync();
        _dir.Dispose();
    }

    private async Task<(HttpStatusCode Status, JsonNode? Body)> Post(string path, string json)
    {
        using var response = await _client.PostAsync(path, new StringContent(json, System.Text.Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, JsonNode.Parse(text));
    }

    [Fact]
    public async Task RoutingErrorsAndWrongContentTypesAnswerInTeisShape()
    {
        async Task<(HttpStatusCode, string?)> Send(HttpRequestMessage request)
        {
            using var response = await _client.SendAsync(request);
            var text = await response.Content.ReadAsStringAsync();
            Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
            return (response.StatusCode, JsonNode.Parse(text)!["error_type"]!.GetValue<string>());
        }
        Assert.Equal((HttpStatusCode.NotFound, "NotFound"), await Send(new HttpRequestMessage(HttpMethod.Get, "/no/such/path")));
        Assert.Equal((HttpStatusCode.MethodNotAllowed, "MethodNotAllowed"), await Send(new HttpRequestMessage(HttpMethod.Get, "/predict")));
        Assert.Equal((HttpStatusCode.UnsupportedMediaType, "Validation"),
            await Send(new HttpRequestMessage(HttpMethod.Post, "/predict") { Content = new StringContent("""{"inputs": "fine"}""") }));
        // HEAD /health answers as GET does, without a body.
        using var head = await _client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/health"));
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
    }

    [Fact]
    public async Task PredictGivesHuggingFacesScoresForTextsAndPairs()
    {
        var folder = SharedFiles.Model("bert-pair-3label");
        using var inputs = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(folder, "inputs.json")));
        using var expected = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(folder, "expected.json")));
        var labels = expected.RootElement.GetProperty("labels").EnumerateArray().Select(l => l.GetString()!).ToArray();
        var tokenizer = Tokenizer.Load(folder);
        var texts = inputs.RootElement.GetProperty("texts").EnumerateArray().ToArray();
        var probs = expected.RootElement.GetProperty("probs_batch").EnumerateArray().ToArray();
        var compared = 0;
        for (var i = 0; i < texts.Length; i++)
        {
            var text = texts[i].GetProperty("text").GetString()!;
            var pair = texts[i].GetProperty("text_pair").ValueKind == JsonValueKind.String ? texts[i].GetProperty("text_pair").GetString() : null;
            // HF's references were truncated at 32 tokens; compare the inputs that fit.
            if (tokenizer.Encode(text, pair, new EncodeOptions { Truncation = TruncationStrategy.DoNotTruncate }).Length > 32)
                continue;
            var body = new JsonObject { ["inputs"] = pair == null ? text : new JsonArray(text, pair) };
            var (status, answer) = await Post("/models/pair/predict", pair == null ? body.ToJsonString() : new JsonObject { ["inputs"] = new JsonArray(new JsonArray(text, pair)) }.ToJsonString());
            Assert.Equal(HttpStatusCode.OK, status);
            var ranked = (pair == null ? answer! : answer![0]!).AsArray();
            Assert.Equal(labels.Length, ranked.Count);
            for (var k = 0; k + 1 < ranked.Count; k++)
                Assert.True(ranked[k]!["score"]!.GetValue<float>() >= ranked[k + 1]!["score"]!.GetValue<float>());
            for (var label = 0; label < labels.Length; label++)
            {
                var score = ranked.Single(r => r!["label"]!.GetValue<string>() == labels[label])!["score"]!.GetValue<float>();
                Assert.True(Math.Abs(probs[i][label].GetSingle() - score) <= 1e-5, $"input {i} label {labels[label]}: {score}");
            }
            compared++;
        }
        Assert.True(compared >= 4, $"only {compared} inputs compared");
    }

    [Fact]
    public async Task BatchesAnswerWithListsAndHonourTopKAndRawScores()
    {
        var (status, answer) = await Post("/predict", """{"inputs": [["good"], ["weather", "bad"], ["fine"]], "top_k": 1}""");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(3, answer!.AsArray().Count);
        Assert.All(answer.AsArray(), a => Assert.Single(a!.AsArray()));

        // raw_scores: the logits, which the library's own logits equal.
        (status, answer) = await Post("/predict", """{"inputs": "good", "raw_scores": true}""");
        Assert.Equal(HttpStatusCode.OK, status);
        using var classifier = Nuansa.Inference.TextClassifier.Load(SharedFiles.Model("bert-pair-3label"));
        var logits = classifier.Classify("good").Logits;
        foreach (var entry in answer!.AsArray())
        {
            var index = classifier.Labels.ToList().IndexOf(entry!["label"]!.GetValue<string>());
            Assert.Equal(logits[index], entry["score"]!.GetValue<float>(), 5);
        }
    }

    [Fact]
    public async Task HuggingFaceInferenceApiRequestsWorkOnModelUrls()
    {
        // POST /models/{name} as HF's Inference API: [[...]] per input, also for one string (huggingface_hub takes [0]),
        // every label best first unless top_k; its parameters and input forms.
        var (status, answer) = await Post("/models/pair", """{"inputs": "good"}""");
        Assert.Equal(HttpStatusCode.OK, status);
        var (_, tei) = await Post("/models/pair/predict", """{"inputs": "good"}""");
        Assert.Single(answer!.AsArray());
        Assert.Equal(3, answer[0]!.AsArray().Count);
        Assert.Equal(tei!.ToJsonString(), answer[0]!.ToJsonString());

        (status, answer) = await Post("/models/pair", """{"inputs": "good", "parameters": {"top_k": 1}}""");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Single(answer![0]!.AsArray());
        Assert.Equal(tei[0]!.ToJsonString(), answer[0]![0]!.ToJsonString());

        (status, answer) = await Post("/models/pair", """{"inputs": [{"text": "weather", "text_pair": "bad"}, "fine"], "parameters": {"top_k": null}, "options": {"wait_for_model": true}}""");
        Assert.Equal(HttpStatusCode.OK, status);
        (_, tei) = await Post("/models/pair/predict", """{"inputs": [["weather", "bad"], ["fine"]]}""");
        Assert.Equal(tei!.ToJsonString(), answer!.ToJsonString());

        (status, answer) = await Post("/models/pair", """{"inputs": "good", "parameters": {"function_to_apply": "none", "top_k": 3}}""");
        (_, tei) = await Post("/models/pair/predict", """{"inputs": "good", "raw_scores": true}""");
        Assert.Equal(tei!.ToJsonString(), answer![0]!.ToJsonString());

        (status, answer) = await Post("/models/pair", """{"inputs": "good", "parameters": {"temperature": 1}}""");
        Assert.Equal(HttpStatusCode.UnprocessableEntity, status);
        Assert.Contains("temperature", answer!["error"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task MultiTaskModelsAnswerPerTask()
    {
        var (status, answer) = await Post("/models/multi/predict", """{"inputs": "a text"}""");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(["a", "b"], answer!.AsObject().Select(p => p.Key));
        Assert.Equal(1f, answer["a"]!.AsArray().Sum(l => l!["score"]!.GetValue<float>()), 5);
        using var info = await _client.GetAsync("/models/multi/info");
        var body = JsonNode.Parse(await info.Content.ReadAsStringAsync())!;
        Assert.Equal("high", body["tasks"]!["b"]![1]!.GetValue<string>());
    }

    [Theory]
    [InlineData("/predict", "{\"inputs\": ", HttpStatusCode.UnprocessableEntity, "not valid JSON")]
    [InlineData("/predict", "{\"inputs\": 5}", HttpStatusCode.UnprocessableEntity, "must be a string, a pair of strings")]
    [InlineData("/predict", "{\"input\": \"x\"}", HttpStatusCode.UnprocessableEntity, "\"inputs\" is missing")]
    [InlineData("/predict", "{\"inputs\": []}", HttpStatusCode.BadRequest, "`inputs` cannot be empty")]
    [InlineData("/predict", "{\"inputs\": \"\"}", HttpStatusCode.BadRequest, "`inputs` cannot be empty")]
    [InlineData("/predict", "{\"inputs\": [\"a\", \"b\", \"c\"]}", HttpStatusCode.UnprocessableEntity, "not 3 strings")]
    [InlineData("/predict", "{\"inputs\": [\"a\", [\"b\"]]}", HttpStatusCode.UnprocessableEntity, "holds strings only")]
    [InlineData("/predict", "{\"inputs\": [[\"a\"], \"b\"]}", HttpStatusCode.UnprocessableEntity, "inputs[1]")]
    [InlineData("/predict", "{\"inputs\": [[\"a\", \"b\", \"c\"]]}", HttpStatusCode.UnprocessableEntity, "not 3 strings")]
    [InlineData("/predict", "{\"inputs\": \"x\", \"truncation_direction\": \"up\"}", HttpStatusCode.UnprocessableEntity, "truncation_direction")]
    [InlineData("/predict", "{\"inputs\": \"x\", \"inputs\": \"y\"}", HttpStatusCode.UnprocessableEntity, "not valid JSON")]
    [InlineData("/predict", "{\"inputs\": \"\\ud800 alone\"}", HttpStatusCode.UnprocessableEntity, "lone surrogate")]
    [InlineData("/models/pair", "{\"inputs\": [\"fine\", \"a \\udc00\"]}", HttpStatusCode.UnprocessableEntity, "lone surrogate")]
    [InlineData("/predict", "{\"inputs\": \"x\", \"top_k\": 0}", HttpStatusCode.UnprocessableEntity, "top_k")]
    [InlineData("/predict", "{\"inputs\": \"x\", \"truncate\": \"yes\"}", HttpStatusCode.UnprocessableEntity, "true or false")]
    [InlineData("/predict", "{\"inputs\": [[\"a\"], [\"b\"], [\"c\"], [\"d\"], [\"e\"]]}", HttpStatusCode.RequestEntityTooLarge, "batch size 5 > maximum allowed batch size 4")]
    [InlineData("/models/nope/predict", "{\"inputs\": \"x\"}", HttpStatusCode.NotFound, "No model named 'nope'")]
    public async Task BadRequestsGetTeiStyleErrors(string path, string json, HttpStatusCode expected, string message)
    {
        var (status, answer) = await Post(path, json);
        Assert.Equal(expected, status);
        Assert.Contains(message, answer!["error"]!.GetValue<string>(), StringComparison.Ordinal);
        // TEI's error types and codes.
        var type = answer["error_type"]!.GetValue<string>();
        Assert.Equal(expected switch { HttpStatusCode.BadRequest => "Empty", HttpStatusCode.NotFound => "NotFound", _ => "Validation" }, type);
    }

    [Fact]
    public async Task TooLongInputsAreRefusedUnlessTruncated()
    {
        var longText = string.Join(' ', Enumerable.Repeat("word", 600));
        var (status, answer) = await Post("/predict", new JsonObject { ["inputs"] = longText }.ToJsonString());
        Assert.Equal(HttpStatusCode.UnprocessableEntity, status);
        Assert.Contains("must have less than 512 tokens. Given: 602", answer!["error"]!.GetValue<string>(), StringComparison.Ordinal);
        (status, answer) = await Post("/predict", new JsonObject { ["inputs"] = longText, ["truncate"] = true }.ToJsonString());
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(3, answer!.AsArray().Count);
        // A body past the server's limit (4 KiB here) is refused before it is parsed.
        (status, answer) = await Post("/predict", new JsonObject { ["inputs"] = new string('a', 5000) }.ToJsonString());
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, status);
        Assert.Contains("4096 bytes", answer!["error"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConcurrentRequestsAllGetTheirOwnAnswers()
    {
        var texts = Enumerable.Range(0, 24).Select(i => $"text number {i} {new string('x', i)}").ToArray();
        using var classifier = Nuansa.Inference.TextClassifier.Load(SharedFiles.Model("bert-pair-3label"));
        var answers = await Task.WhenAll(texts.Select(t => Post("/predict", new JsonObject { ["inputs"] = t }.ToJsonString())));
        for (var i = 0; i < texts.Length; i++)
        {
            Assert.Equal(HttpStatusCode.OK, answers[i].Status);
            var expected = classifier.Classify(texts[i]).Top;
            Assert.Equal(expected.Label, answers[i].Body![0]!["label"]!.GetValue<string>());
            Assert.Equal(expected.Score, answers[i].Body![0]!["score"]!.GetValue<float>(), 5);
        }
        // Every input went through a forward pass exactly once, however the requests were grouped (TEI's metric names).
        var metrics = await _client.GetStringAsync("/metrics");
        double Metric(string pattern) => double.Parse(System.Text.RegularExpressions.Regex.Match(metrics, pattern).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(Metric(@"te_request_success\{model=""pair"",method=""single""\} (\S+)") >= 24);
        Assert.Equal(Metric(@"te_request_input_length_count\{model=""pair""\} (\S+)"), Metric(@"te_batch_next_size_sum\{model=""pair""\} (\S+)"));
        Assert.Contains("te_request_duration_bucket{model=\"pair\",le=", metrics, StringComparison.Ordinal);
        Assert.Contains("te_queue_size{model=\"pair\"}", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task InfoAndHealthDescribeTheServer()
    {
        var info = JsonNode.Parse(await _client.GetStringAsync("/info"))!;
        Assert.Equal("pair", info["model_id"]!.GetValue<string>());
        Assert.Equal(["negative", "neutral", "positive"], info["labels"]!.AsArray().Select(l => l!.GetValue<string>()));
        Assert.Equal(512, info["max_input_length"]!.GetValue<int>());
        Assert.Equal(4, info["max_client_batch_size"]!.GetValue<int>());
        Assert.Equal(1024, info["max_batch_tokens"]!.GetValue<int>());
        Assert.Equal(["pair", "multi"], info["models"]!.AsArray().Select(l => l!.GetValue<string>()));
        var health = JsonNode.Parse(await _client.GetStringAsync("/health"))!;
        Assert.Equal("ok", health["status"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.NotFound, (await _client.GetAsync("/models/nope/info")).StatusCode);
    }

    [Fact]
    public void ServeFailsClearlyBeforeListeningWhenAModelCannotLoad()
    {
        var (code, _, error) = CliRunner.Run("serve", "--model", "good=" + SharedFiles.Model("bert-2label"), "--model", "bad=" + _dir.File("missing"), "--port", "0");
        Assert.Equal(1, code);
        Assert.Contains("missing", error, StringComparison.Ordinal);
        (code, _, error) = CliRunner.Run("serve", "--model", "a=" + SharedFiles.Model("bert-2label"), "--model", "a=" + SharedFiles.Model("bert-2label"), "--port", "0");
        Assert.Equal(1, code);
        Assert.Contains("Two models are named 'a'", error, StringComparison.Ordinal);
    }
}

public class PaddingAwareBatchTests
{
    [Fact]
    public void SimilarLengthsShareAPassAndOutliersStartANewOne()
    {
        // Sorted lengths: 10, 10, 11 pad to 33 for 31 real tokens (≤ 1.2×); adding 20 would pad to 80 for 51 → new pass.
        // 20, 21, 22 pad to 66 for 63; 40 would pad to 160 for 103 → new pass; the limit of 3 per pass also cuts.
        int[] lengths = [10, 10, 11, 20, 21, 22, 40];
        var batches = Nuansa.Inference.TextClassifier.Batches(lengths, 3, null, Nuansa.Inference.ClassificationQueue.MaxPadding).Select(r => lengths[r]).ToArray();
        Assert.Equal([[10, 10, 11], [20, 21, 22], [40]], batches);
        Assert.Equal([[5, 5], [5, 5], [5]], Nuansa.Inference.TextClassifier.Batches([5, 5, 5, 5, 5], 2, null, Nuansa.Inference.ClassificationQueue.MaxPadding).Select(r => new[] { 5, 5, 5, 5, 5 }[r]).ToArray());
        Assert.Empty(Nuansa.Inference.TextClassifier.Batches([], 4, null, Nuansa.Inference.ClassificationQueue.MaxPadding));
        // A token limit of 40: 10, 10, 11 pad to 33; 20 and 21 pad to 42, so each goes alone, as 40 does at its limit.
        Assert.Equal([[10, 10, 11], [20], [21], [22], [40]], Nuansa.Inference.TextClassifier.Batches(lengths, 3, 40, Nuansa.Inference.ClassificationQueue.MaxPadding).Select(r => lengths[r]).ToArray());
    }
}

public class ServerPipelineTests
{
    [Fact]
    public async Task PipelinesAnswerWithStepsGatesAndAlerts()
    {
        using var dir = new TempDirectory();
        var file = dir.File("triage.json");
        File.WriteAllText(file, new JsonObject
        {
            ["steps"] = new JsonArray(
                new JsonObject { ["name"] = "relevancy", ["model"] = SharedFiles.Model("bert-2label"), ["keep"] = new JsonArray("negative"), ["min_score"] = 0.7 },
                new JsonObject { ["name"] = "emotion", ["model"] = SharedFiles.Model("bert-5label-emotion-f16") }),
            ["alerts"] = new JsonArray(new JsonObject { ["name"] = "escalate", ["step"] = "emotion", ["labels"] = new JsonArray("Frustrasi", "Marah"), ["min_score"] = 0.3 }),
        }.ToJsonString());
        await using var server = NuansaServer.Create(new ServerOptions { Pipelines = [("triage", file)], Url = "http://127.0.0.1:0" });
        await server.StartAsync();
        using var client = new HttpClient { BaseAddress = new Uri(server.Addresses[0]) };
        string[] texts = ["the food was great", "terrible service", "okay I guess", "what a lovely day"];
        using var response = await client.PostAsync("/pipelines/triage", new StringContent(new JsonObject { ["inputs"] = new JsonArray([.. texts.Select(t => new JsonArray(t))]) }.ToJsonString(), System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var answers = JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsArray();

        using var pipeline = Nuansa.Inference.Pipeline.Load(file);
        var expected = pipeline.Run([.. texts.Select(t => new Nuansa.Inference.TextInput(t))], new Nuansa.Inference.ClassifyOptions { TopK = null });
        for (var i = 0; i < texts.Length; i++)
        {
            Assert.Equal(expected[i].Kept, answers[i]!["kept"]!.GetValue<bool>());
            Assert.Equal(expected[i].StoppedAt, answers[i]!["stopped_at"]?.GetValue<string>());
            Assert.Equal(expected[i].Alerts, answers[i]!["alerts"]!.AsArray().Select(a => a!.GetValue<string>()));
            foreach (var (step, c) in expected[i].Steps)
                Assert.Equal(c.Labels.Select(l => l.Label), answers[i]!["steps"]![step]!.AsArray().Select(l => l!["label"]!.GetValue<string>()));
        }
        Assert.Contains(expected, r => !r.Kept);
        Assert.Contains(expected, r => r.Alerts.Count > 0);

        using var unknown = await client.PostAsync("/pipelines/nope", new StringContent("""{"inputs": "x"}""", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        using var raw = await client.PostAsync("/pipelines/triage", new StringContent("""{"inputs": "x", "raw_scores": true}""", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, raw.StatusCode);
        var health = JsonNode.Parse(await client.GetStringAsync("/health"))!;
        Assert.Equal(["triage"], health["pipelines"]!.AsArray().Select(p => p!.GetValue<string>()));
    }
}

public class ServerApiKeyTests
{
    [Fact]
    public async Task RequestsNeedTheKeyButProbesDoNot()
    {
        await using var server = NuansaServer.Create(new ServerOptions { Models = [("m", SharedFiles.Model("bert-2label"))], Url = "http://127.0.0.1:0", ApiKey = "s3cret" });
        await server.StartAsync();
        using var client = new HttpClient { BaseAddress = new Uri(server.Addresses[0]) };
        StringContent Body() => new("""{"inputs": "fine"}""", System.Text.Encoding.UTF8, "application/json");
        using (var none = await client.PostAsync("/predict", Body()))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
            Assert.Equal("Bearer", none.Headers.WwwAuthenticate.Single().Scheme);
            Assert.Equal("Unauthorized", JsonNode.Parse(await none.Content.ReadAsStringAsync())!["error_type"]!.GetValue<string>());
        }
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "wrong");
        using (var wrong = await client.PostAsync("/predict", Body()))
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        using (var info = await client.GetAsync("/info"))
            Assert.Equal(HttpStatusCode.Unauthorized, info.StatusCode);
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "s3cret");
        using (var right = await client.PostAsync("/predict", Body()))
            Assert.Equal(HttpStatusCode.OK, right.StatusCode);
        client.DefaultRequestHeaders.Authorization = null;
        using (var health = await client.GetAsync("/health"))
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        using (var metrics = await client.GetAsync("/metrics"))
        {
            Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);
            // Failed authentications are counted: three above.
            Assert.Contains("te_request_failure{model=\"\",err=\"unauthorized\"} 3", await metrics.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
    }
}
