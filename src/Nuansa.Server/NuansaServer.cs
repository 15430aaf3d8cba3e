using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Nuansa.Inference;
using Nuansa.Tokenization;

namespace Nuansa.Server;

/// <summary>
/// The HTTP server: <c>POST /predict</c> (and <c>/models/{name}/predict</c>) in HF text-embeddings-inference's
/// request and response format, <c>GET /info</c>, <c>/health</c> and <c>/metrics</c> (Prometheus).
/// </summary>
public sealed class NuansaServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Dictionary<string, ModelWorker> _workers;
    private readonly ServerOptions _options;
    private readonly Metrics _metrics;

    private readonly Dictionary<string, (Pipeline Pipeline, SemaphoreSlim Slots)> _pipelines;

    private NuansaServer(WebApplication app, Dictionary<string, ModelWorker> workers, Dictionary<string, (Pipeline, SemaphoreSlim)> pipelines, ServerOptions options, Metrics metrics)
    {
        _app = app;
        _workers = workers;
        _pipelines = pipelines;
        _options = options;
        _metrics = metrics;
    }

    /// <summary>The addresses the server listens on, once started (with the real port when port 0 was asked for).</summary>
    public IReadOnlyList<string> Addresses =>
        [.. _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? []];

    /// <summary>Loads every model (failing fast on a bad one) and maps the endpoints; <see cref="StartAsync"/> starts listening.</summary>
    public static NuansaServer Create(ServerOptions options)
    {
        if (options.Models.Count == 0 && options.Pipelines.Count == 0)
            throw new NuansaException("Give at least one model or pipeline to serve.");
        if (options.MaxBatchSize < 1 || options.MaxClientBatchSize < 1 || options.MaxConcurrentRequests < 1)
            throw new NuansaException("Batch sizes and the request limit must be at least 1.");
        var duplicate = options.Models.GroupBy(m => m.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate != null)
            throw new NuansaException($"Two models are named '{duplicate.Key}'.");
        var duplicatePipeline = options.Pipelines.GroupBy(m => m.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicatePipeline != null)
            throw new NuansaException($"Two pipelines are named '{duplicatePipeline.Key}'.");
        var metrics = new Metrics();
        var workers = new Dictionary<string, ModelWorker>(StringComparer.Ordinal);
        var pipelines = new Dictionary<string, (Pipeline, SemaphoreSlim)>(StringComparer.Ordinal);
        var loadOptions = new TextClassifierOptions { Threads = options.Threads, Quantization = options.Quantization, Int8Weights = options.Int8Weights };
        try
        {
            foreach (var (name, path) in options.Models)
                workers[name] = new ModelWorker(name, TextClassifier.Load(path, loadOptions), options, metrics);
            foreach (var (name, path) in options.Pipelines)
                pipelines[name] = (Pipeline.Load(path, loadOptions), new SemaphoreSlim(options.MaxConcurrentRequests));
        }
        catch
        {
            foreach (var w in workers.Values)
                w.DisposeAsync().AsTask().GetAwaiter().GetResult();
            foreach (var (p, _) in pipelines.Values)
                p.Dispose();
            throw;
        }

        var builder = WebApplication.CreateSlimBuilder();
        // Startup failures (a taken port) reach the caller as exceptions; no duplicate log of them.
        builder.Logging.SetMinimumLevel(LogLevel.Warning).AddFilter("Microsoft.Extensions.Hosting", LogLevel.None);
        builder.WebHost.UseUrls(options.Url);
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = options.MaxRequestBytes);
        var app = builder.Build();
        var server = new NuansaServer(app, workers, pipelines, options, metrics);
        server.Map();
        return server;
    }

    public Task StartAsync(CancellationToken cancellationToken = default) => _app.StartAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
        foreach (var worker in _workers.Values)
            await worker.DisposeAsync().ConfigureAwait(false);
        foreach (var (pipeline, _) in _pipelines.Values)
            pipeline.Dispose();
    }

    private string DefaultModel => _options.Models.Count > 0 ? _options.Models[0].Name : "";

    private void Map()
    {
        if (_options.ApiKey is { Length: > 0 } key)
        {
            var expected = System.Text.Encoding.UTF8.GetBytes("Bearer " + key);
            _app.Use(async (context, next) =>
            {
                var path = context.Request.Path;
                var given = System.Text.Encoding.UTF8.GetBytes(context.Request.Headers.Authorization.ToString());
                // Fixed-time comparison: the answer time says nothing about how much of the key was right.
                if (path == "/health" || path == "/metrics" || System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(given, expected))
                {
                    await next(context).ConfigureAwait(false);
                    return;
                }
                var (result, _) = Error(StatusCodes.Status401Unauthorized, "unauthorized", "Send the server's API key as \"Authorization: Bearer <key>\".");
                await result.ExecuteAsync(context).ConfigureAwait(false);
            });
        }
        _app.MapPost("/predict", (Func<HttpContext, Task<IResult>>)(context => Predict(context, DefaultModel)));
        _app.MapPost("/pipelines/{name}", (HttpContext context, string name) => RunPipeline(context, name));
        _app.MapPost("/models/{name}/predict", (HttpContext context, string name) => Predict(context, name));
        _app.MapPost("/models/{name}", (HttpContext context, string name) => Predict(context, name, huggingFace: true));
        _app.MapGet("/info", () => _workers.TryGetValue(DefaultModel, out var w) ? Json(Info(w)) : Json(new JsonObject { ["pipelines"] = Names(_pipelines.Keys) }));
        _app.MapGet("/models/{name}/info", (string name) => _workers.TryGetValue(name, out var w) ? Json(Info(w)) : UnknownModel(name));
        _app.MapGet("/health", Health);
        _app.MapGet("/metrics", () => Results.Text(_metrics.Render(), "text/plain; version=0.0.4"));
    }

    // Unknown names share one label: a client must not be able to grow the metrics without bound.
    private Task<IResult> Predict(HttpContext context, string model, bool huggingFace = false) =>
        Measured(_workers.ContainsKey(model) ? model : "(unknown)", () => PredictCore(context, model, huggingFace));

    private Task<IResult> RunPipeline(HttpContext context, string name) =>
        Measured(_pipelines.ContainsKey(name) ? "pipeline:" + name : "(unknown)", () => RunPipelineCore(context, name));

    // Counts every request by status and times the successful ones.
    private async Task<IResult> Measured(string label, Func<Task<(IResult Result, int Status)>> handle)
    {
        var clock = Stopwatch.StartNew();
        var (result, status) = await handle().ConfigureAwait(false);
        _metrics.Increment("nuansa_requests_total", label, status: status.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (status == StatusCodes.Status200OK)
            _metrics.ObserveDuration("nuansa_request_duration_seconds", label, clock.Elapsed.TotalSeconds);
        return result;
    }

    // The request body as a PredictRequest, or the error to answer with.
    private async Task<(PredictRequest? Request, (IResult, int) Error)> ReadRequest(HttpContext context, bool huggingFace = false)
    {
        PredictRequest request;
        try
        {
            var body = await JsonNode.ParseAsync(context.Request.Body, documentOptions: new JsonDocumentOptions { MaxDepth = 8 }, cancellationToken: context.RequestAborted).ConfigureAwait(false);
            request = huggingFace ? PredictRequest.ParseHuggingFace(body, _options.AutoTruncate) : PredictRequest.Parse(body, _options.AutoTruncate);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return (null, Error(StatusCodes.Status413PayloadTooLarge, "validation", $"The request body is larger than {_options.MaxRequestBytes} bytes."));
        }
        catch (JsonException e)
        {
            return (null, Error(StatusCodes.Status422UnprocessableEntity, "validation", $"The body is not valid JSON: {e.Message}"));
        }
        catch (RequestException e)
        {
            return (null, Error(StatusCodes.Status422UnprocessableEntity, "validation", e.Message));
        }
        if (request.Inputs.Count > _options.MaxClientBatchSize)
            return (null, Error(StatusCodes.Status413PayloadTooLarge, "validation", $"A request may hold at most {_options.MaxClientBatchSize} inputs; it holds {request.Inputs.Count}."));
        return (request, default);
    }

    private async Task<(IResult Result, int Status)> PredictCore(HttpContext context, string model, bool huggingFace)
    {
        if (!_workers.TryGetValue(model, out var worker))
            return (UnknownModel(model), StatusCodes.Status404NotFound);
        var (request, error) = await ReadRequest(context, huggingFace).ConfigureAwait(false);
        if (request == null)
            return error;

        var classifier = worker.Classifier;
        var maxLength = classifier.MaxLength;
        var encodeOptions = new EncodeOptions { MaxLength = maxLength, Truncation = request.Truncate ? TruncationStrategy.LongestFirst : TruncationStrategy.DoNotTruncate };
        var encodings = classifier.Encode(request.Inputs, encodeOptions);
        var tooLong = encodings.Select((e, i) => (e.Length, i)).FirstOrDefault(x => x.Length > maxLength);
        if (tooLong.Length > 0)
        {
            return Error(StatusCodes.Status413PayloadTooLarge, "validation",
                $"Input {tooLong.i} has {tooLong.Length} tokens; the model takes at most {maxLength}. Send \"truncate\": true to cut it.");
        }
        var options = new ClassifyOptions { TopK = request.TopK, Function = request.Function };
        var pending = worker.TryClassify(encodings, options);
        if (pending == null)
            return Error(StatusCodes.Status429TooManyRequests, "overloaded", $"Model '{model}' has {_options.MaxConcurrentRequests} requests waiting, or is shutting down; try again later.");
        Classification[] results;
        try
        {
            results = await pending.ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return Error(StatusCodes.Status500InternalServerError, "backend", $"Inference failed: {e.Message}");
        }
        _metrics.Increment("nuansa_inputs_total", model, encodings.Count);
        var predictions = results.Select(Prediction).ToArray();
        JsonNode response = request.Single ? predictions[0] : new JsonArray(predictions);
        return (Json(response), StatusCodes.Status200OK);
    }

    // A pipeline per request (pipelines run their own batched steps): {"steps": {...}, "kept", "stopped_at", "alerts"} per input.
    private async Task<(IResult Result, int Status)> RunPipelineCore(HttpContext context, string name)
    {
        if (!_pipelines.TryGetValue(name, out var entry))
            return Error(StatusCodes.Status404NotFound, "not_found", $"No pipeline named '{name}'; this server has {(_pipelines.Count == 0 ? "none" : string.Join(", ", _pipelines.Keys))}.");
        var (request, error) = await ReadRequest(context).ConfigureAwait(false);
        if (request == null)
            return error;
        if (request.Function == ScoreFunction.None)
            return Error(StatusCodes.Status422UnprocessableEntity, "validation", "Pipelines answer with scores; \"raw_scores\" is for /predict.");
        if (!entry.Slots.Wait(0))
            return Error(StatusCodes.Status429TooManyRequests, "overloaded", $"Pipeline '{name}' has {_options.MaxConcurrentRequests} requests running; try again later.");
        try
        {
            var options = new ClassifyOptions { TopK = request.TopK, Truncation = request.Truncate ? TruncationStrategy.LongestFirst : TruncationStrategy.DoNotTruncate };
            var results = await Task.Run(() => entry.Pipeline.Run(request.Inputs, options, context.RequestAborted)).ConfigureAwait(false);
            var answers = results.Select(r => (JsonNode)new JsonObject
            {
                ["steps"] = new JsonObject(r.Steps.Select(s => KeyValuePair.Create(s.Key, (JsonNode?)Prediction(s.Value)))),
                ["kept"] = r.Kept,
                ["stopped_at"] = r.StoppedAt,
                ["alerts"] = Names(r.Alerts),
            }).ToArray();
            return (Json(request.Single ? answers[0] : new JsonArray(answers)), StatusCodes.Status200OK);
        }
        catch (TokenizationException e)
        {
            return Error(StatusCodes.Status413PayloadTooLarge, "validation", $"{e.Message} Send \"truncate\": true to cut it.");
        }
        finally
        {
            entry.Slots.Release();
        }
    }

    // As TEI's: every model runs one short input through its queue, so a wedged worker shows as 503, not as "ok".
    private async Task<IResult> Health()
    {
        foreach (var (name, worker) in _workers)
        {
            var encoding = worker.Classifier.Encode([new TextInput("health check")], new EncodeOptions());
            var pending = worker.TryClassify(encoding, ClassifyOptions.Default);
            if (pending == null)
                continue; // saturated with real requests: working, just busy
            try
            {
                await pending.WaitAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                return Results.Text(new JsonObject { ["status"] = "unhealthy", ["model"] = name, ["error"] = e.Message }.ToJsonString(Relaxed),
                    "application/json", statusCode: StatusCodes.Status503ServiceUnavailable);
            }
        }
        return Json(new JsonObject { ["status"] = "ok", ["models"] = Names(_workers.Keys), ["pipelines"] = Names(_pipelines.Keys) });
    }

    private static JsonArray Names(IEnumerable<string> names) => new([.. names.Select(n => JsonValue.Create(n))]);

    // One input's answer: [{"label", "score"}, ...] best first; for a multi-task model {"task": [...], ...}.
    private static JsonNode Prediction(Classification c)
    {
        static JsonArray Ranked(IEnumerable<LabelScore> labels) =>
            new([.. labels.Select(l => (JsonNode)new JsonObject { ["label"] = l.Label, ["score"] = l.Score })]);
        if (c.Tasks == null)
            return Ranked(c.Labels);
        var tasks = new JsonObject();
        foreach (var (task, labels) in c.Tasks)
            tasks[task] = Ranked(labels);
        return tasks;
    }

    private JsonObject Info(ModelWorker worker)
    {
        var c = worker.Classifier;
        var info = new JsonObject
        {
            ["model_id"] = worker.Name,
            ["model_type"] = c.Config.ModelType,
            ["problem_type"] = c.Config.ProblemType ?? "single_label_classification",
            ["labels"] = new JsonArray([.. c.Labels.Select(l => JsonValue.Create(l))]),
            ["max_input_length"] = c.MaxLength,
            ["quantization"] = _options.Quantization.ToString().ToLowerInvariant(),
            ["precision"] = c.Precision,
            ["max_batch_size"] = _options.MaxBatchSize,
            ["max_client_batch_size"] = _options.MaxClientBatchSize,
            ["max_concurrent_requests"] = _options.MaxConcurrentRequests,
            ["auto_truncate"] = _options.AutoTruncate,
            ["models"] = Names(_workers.Keys),
            ["pipelines"] = Names(_pipelines.Keys),
            ["version"] = typeof(NuansaServer).Assembly.GetName().Version?.ToString(),
        };
        if (c.Tasks != null)
            info["tasks"] = new JsonObject(c.Tasks.Select(t => KeyValuePair.Create(t.Name, (JsonNode?)new JsonArray([.. t.Labels.Select(l => JsonValue.Create(l))]))));
        return info;
    }

    private IResult UnknownModel(string name) =>
        Error(StatusCodes.Status404NotFound, "not_found", $"No model named '{name}'; this server has {string.Join(", ", _workers.Keys)}.").Result;

    // Labels and texts are written as they are (no \u escapes for quotes or non-ASCII letters).
    private static readonly JsonSerializerOptions Relaxed = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static IResult Json(JsonNode node) => Results.Text(node.ToJsonString(Relaxed), "application/json");

    // TEI's error body: {"error": "...", "error_type": "..."}.
    private static (IResult Result, int Status) Error(int status, string type, string message) =>
        (Results.Text(new JsonObject { ["error"] = message, ["error_type"] = type }.ToJsonString(Relaxed), "application/json", statusCode: status), status);
}
