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

    private NuansaServer(WebApplication app, Dictionary<string, ModelWorker> workers, ServerOptions options, Metrics metrics)
    {
        _app = app;
        _workers = workers;
        _options = options;
        _metrics = metrics;
    }

    /// <summary>The addresses the server listens on, once started (with the real port when port 0 was asked for).</summary>
    public IReadOnlyList<string> Addresses =>
        [.. _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? []];

    /// <summary>Loads every model (failing fast on a bad one) and maps the endpoints; <see cref="StartAsync"/> starts listening.</summary>
    public static NuansaServer Create(ServerOptions options)
    {
        if (options.Models.Count == 0)
            throw new NuansaException("Give at least one model to serve.");
        if (options.MaxBatchSize < 1 || options.MaxClientBatchSize < 1 || options.MaxConcurrentRequests < 1)
            throw new NuansaException("Batch sizes and the request limit must be at least 1.");
        var duplicate = options.Models.GroupBy(m => m.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate != null)
            throw new NuansaException($"Two models are named '{duplicate.Key}'.");
        var metrics = new Metrics();
        var workers = new Dictionary<string, ModelWorker>(StringComparer.Ordinal);
        try
        {
            foreach (var (name, path) in options.Models)
            {
                var classifier = TextClassifier.Load(path, new TextClassifierOptions { Threads = options.Threads, Quantization = options.Quantization });
                workers[name] = new ModelWorker(name, classifier, options, metrics);
            }
        }
        catch
        {
            foreach (var w in workers.Values)
                w.DisposeAsync().AsTask().GetAwaiter().GetResult();
            throw;
        }

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.UseUrls(options.Url);
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = options.MaxRequestBytes);
        var app = builder.Build();
        var server = new NuansaServer(app, workers, options, metrics);
        server.Map();
        return server;
    }

    public Task StartAsync(CancellationToken cancellationToken = default) => _app.StartAsync(cancellationToken);

    /// <summary>After <see cref="StartAsync"/>: returns when the process is asked to stop (Ctrl+C, SIGTERM).</summary>
    public Task WaitForShutdownAsync() => Microsoft.Extensions.Hosting.HostingAbstractionsHostExtensions.WaitForShutdownAsync(_app);

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
        foreach (var worker in _workers.Values)
            await worker.DisposeAsync().ConfigureAwait(false);
    }

    private string DefaultModel => _options.Models[0].Name;

    private void Map()
    {
        _app.MapPost("/predict", (Func<HttpContext, Task<IResult>>)(context => Predict(context, DefaultModel)));
        _app.MapPost("/models/{name}/predict", (HttpContext context, string name) => Predict(context, name));
        _app.MapGet("/info", () => Json(Info(_workers[DefaultModel])));
        _app.MapGet("/models/{name}/info", (string name) => _workers.TryGetValue(name, out var w) ? Json(Info(w)) : UnknownModel(name));
        _app.MapGet("/health", () => Json(new JsonObject { ["status"] = "ok", ["models"] = new JsonArray([.. _workers.Keys.Select(k => JsonValue.Create(k))]) }));
        _app.MapGet("/metrics", () => Results.Text(_metrics.Render(), "text/plain; version=0.0.4"));
    }

    private async Task<IResult> Predict(HttpContext context, string model)
    {
        var clock = Stopwatch.StartNew();
        var (result, status) = await PredictCore(context, model).ConfigureAwait(false);
        // Unknown names share one label: a client must not be able to grow the metrics without bound.
        var label = _workers.ContainsKey(model) ? model : "(unknown)";
        _metrics.Increment("nuansa_requests_total", label, status: status.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (status == StatusCodes.Status200OK)
            _metrics.ObserveDuration("nuansa_request_duration_seconds", model, clock.Elapsed.TotalSeconds);
        return result;
    }

    private async Task<(IResult Result, int Status)> PredictCore(HttpContext context, string model)
    {
        if (!_workers.TryGetValue(model, out var worker))
            return (UnknownModel(model), StatusCodes.Status404NotFound);
        PredictRequest request;
        try
        {
            var body = await JsonNode.ParseAsync(context.Request.Body, documentOptions: new JsonDocumentOptions { MaxDepth = 8 }, cancellationToken: context.RequestAborted).ConfigureAwait(false);
            request = PredictRequest.Parse(body, _options.AutoTruncate);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return Error(StatusCodes.Status413PayloadTooLarge, "validation", $"The request body is larger than {_options.MaxRequestBytes} bytes.");
        }
        catch (JsonException e)
        {
            return Error(StatusCodes.Status422UnprocessableEntity, "validation", $"The body is not valid JSON: {e.Message}");
        }
        catch (RequestException e)
        {
            return Error(StatusCodes.Status422UnprocessableEntity, "validation", e.Message);
        }
        if (request.Inputs.Count > _options.MaxClientBatchSize)
            return Error(StatusCodes.Status413PayloadTooLarge, "validation", $"A request may hold at most {_options.MaxClientBatchSize} inputs; it holds {request.Inputs.Count}.");

        var classifier = worker.Classifier;
        var maxLength = classifier.MaxLength;
        var encodeOptions = new EncodeOptions { MaxLength = maxLength, Truncation = request.Truncate ? TruncationStrategy.LongestFirst : TruncationStrategy.DoNotTruncate };
        var encodings = classifier.Tokenizer.EncodeBatch([.. request.Inputs.Select(i => (i.Text, i.TextPair))], encodeOptions);
        var tooLong = encodings.Select((e, i) => (e.Length, i)).FirstOrDefault(x => x.Length > maxLength);
        if (tooLong.Length > 0)
        {
            return Error(StatusCodes.Status413PayloadTooLarge, "validation",
                $"Input {tooLong.i} has {tooLong.Length} tokens; the model takes at most {maxLength}. Send \"truncate\": true to cut it.");
        }
        var options = new ClassifyOptions { TopK = request.TopK, Function = request.RawScores ? ScoreFunction.None : ScoreFunction.Default };
        var pending = worker.TryClassify(encodings, options);
        if (pending == null)
            return Error(StatusCodes.Status429TooManyRequests, "overloaded", $"Model '{model}' has {_options.MaxConcurrentRequests} requests waiting; try again later.");
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
            ["max_batch_size"] = _options.MaxBatchSize,
            ["max_client_batch_size"] = _options.MaxClientBatchSize,
            ["max_concurrent_requests"] = _options.MaxConcurrentRequests,
            ["auto_truncate"] = _options.AutoTruncate,
            ["models"] = new JsonArray([.. _workers.Keys.Select(k => JsonValue.Create(k))]),
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
