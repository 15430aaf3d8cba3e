using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

using System.Text.Json.Nodes;
using Nuansa.Inference;
using Nuansa.Server;
using Nuansa.Tokenization;

namespace Nuansa.Tests.Server;

/// <summary>TEI's grammar exactly, and no request that can hurt the server: limits before work, slots, health, shutdown.</summary>
public sealed class ServerRulesTests : IAsyncLifetime
{
    private static readonly string Model = SharedFiles.Model("bert-pair-3label");
    private NuansaServer _server = null!;
    private readonly HttpClient _client = new();
    private readonly TextClassifier _classifier = TextClassifier.Load(Model);

    public async Task InitializeAsync()
    {
        _server = NuansaServer.Create(new ServerOptions
        {
            Models = [("pair", Model)],
            Url = "http://127.0.0.1:0",
            MaxConcurrentRequests = 4,
            MaxInputChars = 4000,
            ShutdownTimeout = TimeSpan.FromMilliseconds(500),
        });
        await _server.StartAsync();
        _client.BaseAddress = new Uri(_server.Addresses[0]);
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _server.DisposeAsync();
        _classifier.Dispose();
    }

    private async Task<(HttpStatusCode Status, JsonNode? Body, HttpResponseMessage Response)> Post(string json, string path = "/predict") =>
        await Post(System.Text.Encoding.UTF8.GetBytes(json), path);

    private async Task<(HttpStatusCode Status, JsonNode? Body, HttpResponseMessage Response)> Post(byte[] body, string path = "/predict")
    {
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        var response = await _client.PostAsync(path, content);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length > 0 ? JsonNode.Parse(text) : null, response);
    }

    private static string[] Labels(JsonNode answer) => [.. answer.AsArray().Select(l => $"{l!["label"]}:{l["score"]!.GetValue<float>():F5}")];

    private string[] Expected(Classification c) => [.. c.Labels.Select(l => $"{l.Label}:{l.Score:F5}")];

    [Fact]
    public async Task InputsAreReadAsTeiReadsThem()
    {
        // A string and ["a"]: one text, a flat list of every label.
        Assert.Equal(Expected(_classifier.Classify("good", new ClassifyOptions { TopK = null })), Labels((await Post("""{"inputs": "good"}""")).Body!));
        Assert.Equal(Expected(_classifier.Classify("good", new ClassifyOptions { TopK = null })), Labels((await Post("""{"inputs": ["good"]}""")).Body!));
        // ["a", "b"]: ONE pair (the first is the context), not two texts.
        var pair = (await Post("""{"inputs": ["battery", "lasts all day"]}""")).Body!;
        Assert.Equal(Expected(_classifier.Classify("battery", "lasts all day", new ClassifyOptions { TopK = null })), Labels(pair));
        // [[...], [...]]: a batch of texts and pairs mixed, a list per item; unknown fields are ignored as TEI ignores them.
        var batch = (await Post("""{"inputs": [["good"], ["battery", "lasts all day"], ["bad"]], "normalize": true}""")).Body!.AsArray();
        Assert.Equal(3, batch.Count);
        Assert.Equal(Labels(pair), Labels(batch[1]!));
        Assert.Equal(Expected(_classifier.Classify("bad", new ClassifyOptions { TopK = null })), Labels(batch[2]!));
    }

    [Fact]
    public async Task LongDocumentsAreClassifiedInWindowsOnRequest()
    {
        var text = "awful terrible " + string.Join(' ', Enumerable.Repeat("x", 1200)) + " wonderful great";
        var (status, body, _) = await Post(new JsonObject { ["inputs"] = new JsonArray(new JsonArray(text), new JsonArray("short")), ["long_text"] = "chunk", ["stride"] = 16, ["aggregate"] = "max" }.ToJsonString());
        Assert.Equal(HttpStatusCode.OK, status);
        var expected = _classifier.ClassifyBatch([new TextInput(text), new TextInput("short")],
            new ClassifyOptions { TopK = null, LongText = LongText.Chunk, Stride = 16, Aggregate = WindowAggregate.Max });
        Assert.Equal(3, expected[0].Windows!.Count);
        Assert.Equal(Expected(expected[0]), Labels(body![0]!));
        Assert.Equal(Expected(expected[1]), Labels(body[1]!));
    }

    [Theory]
    [InlineData("left", TruncationSide.Left)]
    [InlineData("Left", TruncationSide.Left)]
    [InlineData("right", TruncationSide.Right)]
    [InlineData("Right", TruncationSide.Right)]
    public async Task TruncationDirectionCutsTheNamedEnd(string direction, TruncationSide side)
    {
        // Over 512 tokens in under 4,000 characters (the character limit here).
        var text = "awful terrible " + string.Join(' ', Enumerable.Repeat("x", 600)) + " wonderful great";
        var (status, body, _) = await Post(new JsonObject { ["inputs"] = text, ["truncate"] = true, ["truncation_direction"] = direction }.ToJsonString());
        Assert.Equal(HttpStatusCode.OK, status);
        var expected = _classifier.ClassifyBatch([new TextInput(text)], new ClassifyOptions { TopK = null, TruncationSide = side })[0];
        Assert.Equal(Expected(expected), Labels(body!));
        var other = _classifier.ClassifyBatch([new TextInput(text)], new ClassifyOptions { TopK = null, TruncationSide = side == TruncationSide.Left ? TruncationSide.Right : TruncationSide.Left })[0];
        Assert.NotEqual(Expected(other), Labels(body!));
    }

    [Theory]
    [InlineData(new byte[] { 0x7B, 0x22, 0x69, 0x6E, 0x70, 0x75, 0x74, 0x73, 0x22, 0x3A, 0x22, 0xFF, 0xFE, 0x22, 0x7D })]        // {"inputs":"<FF FE>"}
    [InlineData(new byte[] { 0x7B, 0x22, 0x69, 0x6E, 0x70, 0x75, 0x74, 0x73, 0x22, 0x3A, 0x22, 0xC0, 0xAF, 0x22, 0x7D })]        // overlong "/"
    [InlineData(new byte[] { 0x7B, 0x22, 0x69, 0x6E, 0x70, 0x75, 0x74, 0x73, 0x22, 0x3A, 0x22, 0xED, 0xA0, 0x80, 0x22, 0x7D })]  // encoded surrogate
    public async Task MalformedBytesGetAJsonValidationError(byte[] body)
    {
        var (status, answer, _) = await Post(body);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, status);
        Assert.Equal("Validation", answer!["error_type"]!.GetValue<string>());
        var metrics = await _client.GetStringAsync("/metrics");
        Assert.Contains("te_request_failure{model=\"pair\",err=\"validation\"}", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnInputPastTheCharacterLimitIsRefusedBeforeTokenizing()
    {
        var before = TokenizedRequests(await _client.GetStringAsync("/metrics"));
        var (status, answer, _) = await Post(new JsonObject { ["inputs"] = new string('x', 4500) }.ToJsonString());
        Assert.Equal(HttpStatusCode.UnprocessableEntity, status);
        Assert.Contains("must have less than 4000 characters. Given: 4500", answer!["error"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(before, TokenizedRequests(await _client.GetStringAsync("/metrics")));
        Assert.Equal(4000, JsonNode.Parse(await _client.GetStringAsync("/info"))!["max_input_chars"]!.GetValue<int>());
    }

    private static double TokenizedRequests(string metrics) =>
        System.Text.RegularExpressions.Regex.Match(metrics, @"te_request_tokenization_duration_count\{model=""pair""\} (\S+)") is { Success: true } m
            ? double.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : 0;

    [Fact]
    public async Task AsManyClientsAsTheLimitAreNeverRefused()
    {
        // 4 clients, each sending its next request when the last is answered: never more than 4 in flight, never 429.
        var statuses = await Task.WhenAll(Enumerable.Range(0, 4).Select(async c =>
        {
            var seen = new List<HttpStatusCode>();
            for (var i = 0; i < 25; i++)
                seen.Add((await Post(new JsonObject { ["inputs"] = $"client {c} request {i}" }.ToJsonString())).Status);
            return seen;
        }));
        Assert.All(statuses.SelectMany(s => s), s => Assert.Equal(HttpStatusCode.OK, s));
    }

    [Fact]
    public async Task SlowUploadsHoldNoSlotAndTimeOutWith408()
    {
        // As many stalled uploads as the request limit: bodies are read before a request takes a slot, so a normal
        // request still goes through at once, and health answers at once.
        var stalled = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => StalledRequest()));
        try
        {
            await WaitFor(() => _server.InFlight >= 4);
            var clock = Stopwatch.StartNew();
            var (status, _, _) = await Post("""{"inputs": "one more"}""");
            Assert.Equal(HttpStatusCode.OK, status);
            using var health = await _client.GetAsync("/health");
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"a request and /health took {clock.Elapsed.TotalMilliseconds:F0} ms beside stalled uploads");
        }
        finally
        {
            foreach (var s in stalled)
                s.Dispose();
        }
        await WaitFor(() => _server.InFlight == 0);

        // A body that stops arriving is answered 408 after the body timeout; one trickling in is cut off by the minimum rate.
        await using var strict = NuansaServer.Create(new ServerOptions { Models = [("pair", Model)], Url = "http://127.0.0.1:0", RequestBodyTimeout = TimeSpan.FromSeconds(1) });
        await strict.StartAsync();
        using var stopped = await StalledRequest(strict.Addresses[0]);
        Assert.StartsWith("HTTP/1.1 408", await StatusLine(stopped), StringComparison.Ordinal);
        using var trickle = await StalledRequest(strict.Addresses[0], length: 100_000);
        var trickling = Task.Run(async () =>
        {
            try
            {
                for (var i = 0; i < 40; i++)
                {
                    await trickle.GetStream().WriteAsync(System.Text.Encoding.ASCII.GetBytes("\"aaaaaaaaaa\", "));
                    await Task.Delay(100);
                }
            }
            catch (IOException)
            {
                // The server closed the connection: what is being tested.
            }
        });
        Assert.StartsWith("HTTP/1.1 408", await StatusLine(trickle), StringComparison.Ordinal);
        await trickling;
    }

    // The status line the server sends back on a raw connection.
    private static async Task<string> StatusLine(TcpClient socket)
    {
        var buffer = new byte[256];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var read = await socket.GetStream().ReadAsync(buffer, timeout.Token);
        return System.Text.Encoding.ASCII.GetString(buffer, 0, read).Split("\r\n")[0];
    }

    [Fact]
    public async Task ShutdownCountsTheRequestsItCutOff()
    {
        using var stalled = await StalledRequest();
        await WaitFor(() => _server.InFlight >= 1);
        Assert.Equal(1, await _server.StopAsync());
    }

    [Fact]
    public async Task AnIdleStopCutsNothingOff()
    {
        await using var server = NuansaServer.Create(new ServerOptions { Models = [("m", SharedFiles.Model("bert-2label"))], Url = "http://127.0.0.1:0" });
        await server.StartAsync();
        using var client = new HttpClient { BaseAddress = new Uri(server.Addresses[0]) };
        using (var response = await client.PostAsync("/predict", new StringContent("""{"inputs": "fine"}""", System.Text.Encoding.UTF8, "application/json")))
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(0, await server.StopAsync());
    }

    /// <summary>A request whose headers arrive but whose body never finishes: it holds a slot until the socket closes.</summary>
    private Task<TcpClient> StalledRequest() => StalledRequest(_server.Addresses[0]);

    private static async Task<TcpClient> StalledRequest(string address, int length = 100)
    {
        var uri = new Uri(address);
        var socket = new TcpClient();
        await socket.ConnectAsync(uri.Host, uri.Port);
        var head = $"POST /predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n{{\"inputs\": ";
        await socket.GetStream().WriteAsync(System.Text.Encoding.ASCII.GetBytes(head));
        return socket;
    }

    private static async Task WaitFor(Func<bool> condition)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), "timed out waiting for the server");
            await Task.Delay(10);
        }
    }
}

/// <summary>The serve command in its own process: one ONNX Runtime thread pool however many models it serves.</summary>
public class ServerThreadPoolTests
{
    [Fact]
    public async Task ModelsShareOneThreadPool()
    {
        // With a pool per model, each further model with 6 threads would add 5 ONNX Runtime threads (10 for two); a
        // shared pool adds none. Each model's queue runs its passes on one thread of its own: 2 more for 3 models.
        var one = await ThreadsWhileServing(1);
        var three = await ThreadsWhileServing(3);
        Assert.True(three - one < 5 + 2, $"serving 3 models took {three} threads, 1 model {one}");
    }

    private static async Task<int> ThreadsWhileServing(int models)
    {
        using var process = Process.Start(CliProcess.Start(["serve", "--port", "0", "--threads", "6",
            .. Enumerable.Range(0, models).SelectMany(i => new[] { "--model", $"m{i}={SharedFiles.Model("bert-2label")}" })]))!;
        try
        {
            // Log lines may come first; the one that matters starts with "serving".
            var seen = new List<string>();
            string? line;
            do
            {
                line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
                seen.Add(line ?? "(end)");
            }
            while (line != null && !line.StartsWith("serving", StringComparison.Ordinal));
            Assert.True(line != null, $"serve said: {string.Join(" | ", seen)}");
            var address = line![(line.IndexOf("http://", StringComparison.Ordinal))..].Split(' ')[0].TrimEnd(',');
            using var client = new HttpClient { BaseAddress = new Uri(address) };
            // Every model runs a forward pass, so every pool there is has started.
            for (var i = 0; i < models; i++)
            {
                using var response = await client.PostAsync($"/models/m{i}/predict", new StringContent("""{"inputs": "warm up"}""", System.Text.Encoding.UTF8, "application/json"));
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }
            Assert.Equal("shared", System.Text.Json.Nodes.JsonNode.Parse(await client.GetStringAsync("/info"))!["thread_pool"]!.GetValue<string>());
            var status = await File.ReadAllLinesAsync($"/proc/{process.Id}/status");
            return int.Parse(status.First(l => l.StartsWith("Threads:", StringComparison.Ordinal))[8..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }
}
