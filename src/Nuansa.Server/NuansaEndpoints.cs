using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.Extensions.Logging;
using Nuansa.Inference;

namespace Nuansa.Server;

/// <summary>
/// The endpoints behind <c>MapNuansa</c>: <c>POST /predict</c> (and <c>/models/{name}/predict</c>) in HF
/// text-embeddings-inference's request and response format, HF's Inference API, pipelines, <c>GET /info</c>,
/// <c>/health</c>, <c>/metrics</c> (Prometheus) and the playground; one per application (a singleton), owning the
/// loaded models behind their <see cref="ClassificationQueue"/>s. This file sets up and maps; the handlers and the answers
/// live in the files beside it.
/// </summary>
internal sealed partial class NuansaEndpoints : IAsyncDisposable
{
    private readonly Dictionary<string, ClassificationQueue> _queues;
    private readonly ServerOptions _options;
    private readonly Metrics _metrics;
    private readonly ILogger _logger;
    private readonly byte[]? _expectedKey;

    private readonly Dictionary<string, (Pipeline Pipeline, SemaphoreSlim Slots)> _pipelines;

    /// <summary>Loads every model and pipeline, failing fast (and releasing what was loaded) on a bad one.</summary>
    public NuansaEndpoints(ServerOptions options, ILogger<NuansaEndpoints> logger)
    {
        if (options.Models.Count == 0 && options.Pipelines.Count == 0)
            throw new NuansaException("Give at least one model or pipeline to serve.");
        if (options.MaxBatchSize < 1 || options.MaxClientBatchSize < 1 || options.MaxConcurrentRequests < 1 || options.MaxBatchTokens < 1
            || options.MaxWindows < 1 || options.MaxTokenizingChars < 1 || options.MinRequestBodyBytesPerSecond < 0 || options.RequestBodyTimeout <= TimeSpan.Zero)
            throw new NuansaException("Batch sizes, the token, window and character limits and the request limit must be at least 1, the body timeout positive.");
        var duplicate = options.Models.GroupBy(m => m.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate != null)
            throw new NuansaException($"Two models are named '{duplicate.Key}'.");
        var duplicatePipeline = options.Pipelines.GroupBy(m => m.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicatePipeline != null)
            throw new NuansaException($"Two pipelines are named '{duplicatePipeline.Key}'.");
        // One ONNX Runtime thread pool for every model (when this process has made no session yet).
        Graphs.Onnx.OnnxRuntimeThreads.UseSharedPool(options.Threads);
        _options = options;
        _logger = logger;
        _expectedKey = options.ApiKey is { Length: > 0 } key ? System.Text.Encoding.UTF8.GetBytes("Bearer " + key) : null;
        _metrics = new Metrics();
        _queues = new Dictionary<string, ClassificationQueue>(StringComparer.Ordinal);
        _pipelines = new Dictionary<string, (Pipeline, SemaphoreSlim)>(StringComparer.Ordinal);
        var loadOptions = new TextClassifierOptions { Threads = options.Threads, Quantization = options.Quantization, Int8Weights = options.Int8Weights, Tasks = options.Tasks };
        // One budget of characters being tokenized for the whole process, whichever model the requests are for.
        var tokenizing = new CharacterBudget(options.MaxTokenizingChars);
        try
        {
            foreach (var (name, path) in options.Models)
            {
                var queue = new ClassificationQueue(TextClassifier.Load(path, loadOptions), new ClassificationQueueOptions
                {
                    MaxBatchSize = options.MaxBatchSize,
                    MaxBatchTokens = options.MaxBatchTokens,
                    MaxInputs = options.MaxClientBatchSize,
                    MaxConcurrent = options.MaxConcurrentRequests,
                    MaxInputChars = options.MaxInputChars,
                    MaxWindows = options.MaxWindows,
                    Tokenizing = tokenizing,
                    Observer = new MetricsObserver(_metrics, name),
                });
                _queues[name] = queue;
                _metrics.Gauge("te_queue_size", name, () => queue.QueueSize);
            }
            foreach (var (name, path) in options.Pipelines)
                _pipelines[name] = (Pipeline.Load(path, loadOptions with { Tasks = null }), new SemaphoreSlim(options.MaxConcurrentRequests));
        }
        catch
        {
            foreach (var q in _queues.Values)
                q.DisposeAsync().AsTask().GetAwaiter().GetResult();
            foreach (var (p, _) in _pipelines.Values)
                p.Dispose();
            throw;
        }
    }

    public ServerOptions Options => _options;

    /// <summary>Requests being handled now, over every model and pipeline.</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>Requests the shutdown ended before they were answered.</summary>
    public int CutOffCount => Volatile.Read(ref _cutOff);

    private int _inFlight;
    private int _cutOff;
    private volatile bool _stopping;

    /// <summary>From now on, a request that ends unanswered was cut off by the shutdown.</summary>
    public void MarkStopping() => _stopping = true;

    /// <summary>Counts the requests still running when the host gave up waiting for them.</summary>
    public void CountStillRunning() => Interlocked.Add(ref _cutOff, InFlight);

    /// <summary>Each model's health, as <c>/health</c> and the health check read it.</summary>
    public async Task<(bool Healthy, string? Error)> CheckHealthAsync()
    {
        foreach (var (name, queue) in _queues)
        {
            var (healthy, error) = await queue.CheckHealthAsync(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(10)).ConfigureAwait(false);
            if (!healthy)
                return (false, $"model '{name}': {error}");
        }
        return (true, null);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var queue in _queues.Values)
            await queue.DisposeAsync().ConfigureAwait(false);
        foreach (var (pipeline, _) in _pipelines.Values)
            pipeline.Dispose();
    }

    // A request the shutdown ended before it was answered: counted and logged, so the stop can say it was not clean.
    private void CutOff(HttpContext context)
    {
        Interlocked.Increment(ref _cutOff);
        _logger.LogWarning("shutdown cut off {Method} {Path} before it was answered", context.Request.Method, context.Request.Path);
    }

    private string DefaultModel => _options.Models.Count > 0 ? _options.Models[0].Name : "";

    /// <summary>
    /// Maps the endpoints under <paramref name="routes"/>. The API endpoints get the API key check, the request size
    /// limit, the in-flight count and the JSON error for anything unexpected; <c>/health</c>, <c>/metrics</c> and the
    /// playground's files need no key.
    /// </summary>
    public RouteGroupBuilder Map(IEndpointRouteBuilder routes, string prefix)
    {
        var open = routes.MapGroup(prefix);
        open.MapMethods("/health", ["GET", "HEAD"], Health);
        open.MapGet("/metrics", () => Results.Text(_metrics.Render(), "text/plain; version=0.0.4"));
        if (_options.Playground)
            Playground.Map(open);

        var api = routes.MapGroup(prefix);
        api.AddEndpointFilter(async (invocation, next) =>
        {
            var context = invocation.HttpContext;
            if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
                size.MaxRequestBodySize = _options.MaxRequestBytes;
            // A body trickling in slower than this is cut off (408) by Kestrel: a slow client cannot hold a connection's work.
            if (context.Features.Get<IHttpMinRequestBodyDataRateFeature>() is { } rate && _options.MinRequestBodyBytesPerSecond > 0)
                rate.MinDataRate = new MinDataRate(_options.MinRequestBodyBytesPerSecond, TimeSpan.FromSeconds(2));
            if (_expectedKey != null)
            {
                // RFC 7235: the scheme is case-insensitive; the key is compared in fixed time, so the answer time says
                // nothing about how much of it was right.
                var header = context.Request.Headers.Authorization.ToString();
                var given = header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? System.Text.Encoding.UTF8.GetBytes("Bearer " + header[7..]) : [];
                if (!System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(given, _expectedKey))
                {
                    _metrics.Increment("te_request_failure", "", ("err", "unauthorized"));
                    context.Response.Headers.WWWAuthenticate = "Bearer";
                    return Error(StatusCodes.Status401Unauthorized, "Unauthorized", "Send the server's API key as \"Authorization: Bearer <key>\".").Result;
                }
            }
            // No empty 500, whatever goes wrong: a JSON error, counted; and every request in flight is counted for shutdown.
            Interlocked.Increment(ref _inFlight);
            try
            {
                var result = await next(invocation).ConfigureAwait(false);
                if (_stopping && context.RequestAborted.IsCancellationRequested)
                    CutOff(context);
                return result;
            }
            catch (Exception) when (_stopping)
            {
                CutOff(context);
                throw;
            }
            catch (Exception e) when (!context.Response.HasStarted && ClientFault(e) is { } fault)
            {
                // The client's doing (bad chunk framing, a body too slow, a reset mid-body): no server failure, no stack trace.
                _metrics.Increment("te_request_failure", "", ("err", "client"));
                return Error(fault.Status, "Validation", fault.Message).Result;
            }
            catch (Exception e) when (!context.Response.HasStarted && e is not OperationCanceledException)
            {
                _metrics.Increment("te_request_failure", "", ("err", "backend"));
                return Error(StatusCodes.Status500InternalServerError, "Backend", $"The server failed on this request: {e.Message}").Result;
            }
            finally
            {
                Interlocked.Decrement(ref _inFlight);
            }
        });
        api.MapPost("/predict", (Func<HttpContext, Task<IResult>>)(context => Predict(context, DefaultModel)));
        api.MapPost("/pipelines/{name}", (HttpContext context, string name) => RunPipeline(context, name));
        api.MapPost("/models/{name}/predict", (HttpContext context, string name) => Predict(context, name));
        api.MapPost("/models/{name}", (HttpContext context, string name) => Predict(context, name, huggingFace: true));
        api.MapGet("/info", () => _queues.TryGetValue(DefaultModel, out var q) ? Json(Info(DefaultModel, q)) : Json(new JsonObject { ["pipelines"] = Names(_pipelines.Keys) }));
        api.MapGet("/models/{name}/info", (string name) => _queues.TryGetValue(name, out var q) ? Json(Info(name, q)) : UnknownModel(name));
        api.MapGet("/pipelines/{name}/info", (string name) => _pipelines.TryGetValue(name, out var p) ? Json(PipelineInfo(name, p.Pipeline))
            : Error(StatusCodes.Status404NotFound, "NotFound", $"No pipeline named '{name}'; this server has {(_pipelines.Count == 0 ? "none" : string.Join(", ", _pipelines.Keys))}.").Result);
        return api;
    }
}
