using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using Nuansa.Inference;
using Nuansa.Tokenization;

namespace Nuansa.Server;

/// <summary>
/// The endpoints behind <c>MapNuansa</c>: <c>POST /predict</c> (and <c>/models/{name}/predict</c>) in HF
/// text-embeddings-inference's request and response format, HF's Inference API, pipelines, <c>GET /info</c>,
/// <c>/health</c>, <c>/metrics</c> (Prometheus) and the playground; one per application (a singleton), owning the
/// loaded models and their batching workers.
/// </summary>
internal sealed class NuansaEndpoints : IAsyncDisposable
{
    private readonly Dictionary<string, ModelWorker> _workers;
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
        if (options.MaxBatchSize < 1 || options.MaxClientBatchSize < 1 || options.MaxConcurrentRequests < 1 || options.MaxBatchTokens < 1)
            throw new NuansaException("Batch sizes, the token limit and the request limit must be at least 1.");
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
        _workers = new Dictionary<string, ModelWorker>(StringComparer.Ordinal);
        _pipelines = new Dictionary<string, (Pipeline, SemaphoreSlim)>(StringComparer.Ordinal);
        var loadOptions = new TextClassifierOptions { Threads = options.Threads, Quantization = options.Quantization, Int8Weights = options.Int8Weights, Tasks = options.Tasks };
        try
        {
            foreach (var (name, path) in options.Models)
                _workers[name] = new ModelWorker(name, TextClassifier.Load(path, loadOptions), options, _metrics);
            foreach (var (name, path) in options.Pipelines)
                _pipelines[name] = (Pipeline.Load(path, loadOptions with { Tasks = null }), new SemaphoreSlim(options.MaxConcurrentRequests));
        }
        catch
        {
            foreach (var w in _workers.Values)
                w.DisposeAsync().AsTask().GetAwaiter().GetResult();
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
        foreach (var (name, worker) in _workers)
        {
            var (healthy, error) = await worker.CheckHealthAsync(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(10)).ConfigureAwait(false);
            if (!healthy)
                return (false, $"model '{name}': {error}");
        }
        return (true, null);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var worker in _workers.Values)
            await worker.DisposeAsync().ConfigureAwait(false);
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
        open.MapGet("/health", Health);
        open.MapGet("/metrics", () => Results.Text(_metrics.Render(), "text/plain; version=0.0.4"));
        if (_options.Playground)
            Playground.Map(open);

        var api = routes.MapGroup(prefix);
        api.AddEndpointFilter(async (invocation, next) =>
        {
            var context = invocation.HttpContext;
            if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
                size.MaxRequestBodySize = _options.MaxRequestBytes;
            if (_expectedKey != null)
            {
                var given = System.Text.Encoding.UTF8.GetBytes(context.Request.Headers.Authorization.ToString());
                // Fixed-time comparison: the answer time says nothing about how much of the key was right.
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
        api.MapGet("/info", () => _workers.TryGetValue(DefaultModel, out var w) ? Json(Info(w)) : Json(new JsonObject { ["pipelines"] = Names(_pipelines.Keys) }));
        api.MapGet("/models/{name}/info", (string name) => _workers.TryGetValue(name, out var w) ? Json(Info(w)) : UnknownModel(name));
        api.MapGet("/pipelines/{name}/info", (string name) => _pipelines.TryGetValue(name, out var p) ? Json(PipelineInfo(name, p.Pipeline))
            : Error(StatusCodes.Status404NotFound, "NotFound", $"No pipeline named '{name}'; this server has {(_pipelines.Count == 0 ? "none" : string.Join(", ", _pipelines.Keys))}.").Result);
        return api;
    }

    // Unknown names share one label: a client must not be able to grow the metrics without bound.
    private Task<IResult> Predict(HttpContext context, string model, bool huggingFace = false) =>
        Measured(_workers.ContainsKey(model) ? model : "(unknown)", () => PredictCore(context, model, huggingFace));

    private Task<IResult> RunPipeline(HttpContext context, string name) =>
        Measured(_pipelines.ContainsKey(name) ? "pipeline:" + name : "(unknown)", () => RunPipelineCore(context, name));

    /// <summary>A request's outcome: the answer, and for the metrics its method (single or batch) and failure reason.</summary>
    private readonly record struct Outcome(IResult Result, string? Method = null, string? Failure = null);

    // TEI's request metrics: te_request_count{method}, te_request_success{method}, te_request_failure{err}, te_request_duration.
    private async Task<IResult> Measured(string label, Func<Task<Outcome>> handle)
    {
        var clock = Stopwatch.StartNew();
        var outcome = await handle().ConfigureAwait(false);
        if (outcome.Method != null)
            _metrics.Increment("te_request_count", label, ("method", outcome.Method));
        if (outcome.Failure != null)
        {
            _metrics.Increment("te_request_failure", label, ("err", outcome.Failure));
        }
        else
        {
            _metrics.Increment("te_request_success", label, ("method", outcome.Method ?? "single"));
            _metrics.ObserveDuration("te_request_duration", label, clock.Elapsed.TotalSeconds);
        }
        return outcome.Result;
    }

    private static Outcome Fail(int status, string type, string failure, string message, string? method = null) =>
        new(Error(status, type, message).Result, method, failure);

    // The request body, parsed and checked against every limit that needs no tokenizing.
    private async Task<(PredictRequest? Request, Outcome Error)> ReadRequest(HttpContext context, int maxChars, bool huggingFace = false)
    {
        PredictRequest request;
        try
        {
            // Duplicate keys are an error, not "the last one wins"; invalid or overlong UTF-8 fails in the reader.
            var body = await JsonNode.ParseAsync(context.Request.Body, documentOptions: new JsonDocumentOptions { MaxDepth = 8, AllowDuplicateProperties = false },
                cancellationToken: context.RequestAborted).ConfigureAwait(false);
            request = huggingFace ? PredictRequest.ParseHuggingFace(body, _options.AutoTruncate) : PredictRequest.Parse(body, _options.AutoTruncate);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return (null, Fail(StatusCodes.Status413PayloadTooLarge, "Validation", "payload_too_large", $"The request body is larger than {_options.MaxRequestBytes} bytes."));
        }
        catch (JsonException e)
        {
            return (null, Fail(StatusCodes.Status422UnprocessableEntity, "Validation", "validation", $"The body is not valid JSON: {e.Message}"));
        }
        catch (InvalidOperationException e)
        {
            // System.Text.Json refuses to hand out a string whose escapes make invalid UTF-16 (a lone surrogate).
            return (null, Fail(StatusCodes.Status422UnprocessableEntity, "Validation", "validation", $"A text is not valid Unicode (a lone surrogate?): {e.Message}"));
        }
        catch (EmptyRequestException e)
        {
            return (null, Fail(StatusCodes.Status400BadRequest, "Empty", "empty", e.Message));
        }
        catch (RequestException e)
        {
            return (null, Fail(StatusCodes.Status422UnprocessableEntity, "Validation", "validation", e.Message));
        }
        var method = request.Single ? "single" : "batch";
        if (request.Inputs.Count > _options.MaxClientBatchSize)
        {
            return (null, Fail(StatusCodes.Status413PayloadTooLarge, "Validation", "batch_size",
                $"batch size {request.Inputs.Count} > maximum allowed batch size {_options.MaxClientBatchSize}", method));
        }
        for (var i = 0; i < request.Inputs.Count; i++)
        {
            var input = request.Inputs[i];
            if (input.Text.Length == 0 && string.IsNullOrEmpty(input.TextPair))
                return (null, Fail(StatusCodes.Status400BadRequest, "Empty", "empty", "`inputs` cannot be empty", method));
            // TEI's rule: characters are limited before any tokenizing, so a huge input costs nothing.
            var chars = input.Text.Length + (input.TextPair?.Length ?? 0);
            if (chars > maxChars)
            {
                return (null, Fail(StatusCodes.Status422UnprocessableEntity, "Validation", "validation",
                    $"`inputs` must have less than {maxChars} characters. Given: {chars}", method));
            }
        }
        return (request, default);
    }

    /// <summary>The character limit of an input: the configured one, else TEI's (250 characters per token of the model's limit).</summary>
    private int MaxChars(TextClassifier classifier) => _options.MaxInputChars ?? classifier.MaxLength * 250;

    private static Outcome Overloaded(HttpContext context, string what)
    {
        context.Response.Headers.RetryAfter = "1";
        return Fail(StatusCodes.Status429TooManyRequests, "Overloaded", "overloaded", $"{what} is overloaded: too many requests in flight; retry shortly.");
    }

    private async Task<Outcome> PredictCore(HttpContext context, string model, bool huggingFace)
    {
        if (!_workers.TryGetValue(model, out var worker))
            return new(UnknownModel(model), null, "not_found");
        // The slot is taken before the body is even read, so the limit holds whatever the requests cost.
        if (!worker.TryEnter())
            return Overloaded(context, $"Model '{model}'");
        try
        {
            var classifier = worker.Classifier;
            var (request, error) = await ReadRequest(context, MaxChars(classifier), huggingFace).ConfigureAwait(false);
            if (request == null)
                return error;
            var method = request.Single ? "single" : "batch";
            var maxLength = classifier.MaxLength;
            var encodeOptions = new EncodeOptions
            {
                MaxLength = maxLength,
                Truncation = request.Truncate ? TruncationStrategy.LongestFirst : TruncationStrategy.DoNotTruncate,
                TruncationSide = request.TruncationSide,
            };
            var options = new ClassifyOptions { TopK = request.TopK, Function = request.Function, Aggregate = request.Aggregate };
            if (request.LongText == LongText.Chunk)
                return await PredictInWindows(worker, request, options, method, context).ConfigureAwait(false);
            var tokenizing = Stopwatch.StartNew();
            // Off the request thread; the in-flight limit bounds how many tokenize at once.
            var encodings = await Task.Run(() => classifier.Encode(request.Inputs, encodeOptions)).ConfigureAwait(false);
            _metrics.ObserveDuration("te_request_tokenization_duration", model, tokenizing.Elapsed.TotalSeconds);
            foreach (var e in encodings)
                _metrics.ObserveTokens("te_request_input_length", model, e.Length);
            var tooLong = encodings.Select((e, i) => (e.Length, i)).FirstOrDefault(x => x.Length > maxLength);
            if (tooLong.Length > 0)
            {
                return Fail(StatusCodes.Status422UnprocessableEntity, "Validation", "validation",
                    $"`inputs` must have less than {maxLength} tokens. Given: {tooLong.Length} (input {tooLong.i}); send \"truncate\": true to cut it.", method);
            }
            var (results, failed) = await Infer(worker, encodings, options, context, method).ConfigureAwait(false);
            if (results == null)
                return failed;
            var predictions = results.Select(Prediction).ToArray();
            JsonNode response = request.Single ? predictions[0] : new JsonArray(predictions);
            return new(Json(response), method);
        }
        finally
        {
            worker.Exit();
        }
    }

    // Encoded inputs through the model's queue: the results, or the answer for a client who left or a failed pass.
    private static async Task<(Classification[]? Results, Outcome Failed)> Infer(ModelWorker worker, IReadOnlyList<Encoding> encodings, ClassifyOptions options,
        HttpContext context, string method)
    {
        try
        {
            return (await worker.Enqueue(encodings, options, context.RequestAborted).ConfigureAwait(false), default);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client left before its forward pass: dropped from the queue. Nobody reads this answer.
            return (null, new(Results.Empty, method, "cancelled"));
        }
        catch (Exception e)
        {
            return (null, Fail(StatusCodes.Status424FailedDependency, "Backend", "backend", $"Inference failed: {e.Message}", method));
        }
    }

    // "long_text": "chunk": every input's windows go through the queue together; their logits combine per input.
    private async Task<Outcome> PredictInWindows(ModelWorker worker, PredictRequest request, ClassifyOptions options, string method, HttpContext context)
    {
        var classifier = worker.Classifier;
        IReadOnlyList<Encoding>[] windows;
        try
        {
            windows = await Task.Run(() => request.Inputs.Select(i => classifier.EncodeWindows(i, classifier.MaxLength, request.Stride)).ToArray()).ConfigureAwait(false);
        }
        catch (TokenizationException e)
        {
            return Fail(StatusCodes.Status422UnprocessableEntity, "Validation", "validation", e.Message, method);
        }
        var (results, failed) = await Infer(worker, [.. windows.SelectMany(w => w)], options with { TopK = null }, context, method).ConfigureAwait(false);
        if (results == null)
            return failed;
        var answers = new JsonNode[windows.Length];
        var next = 0;
        for (var i = 0; i < windows.Length; i++)
        {
            var combined = classifier.Combine([.. results[next..(next + windows[i].Count)].Select(r => r.Logits.ToArray())], options);
            next += windows[i].Count;
            answers[i] = Prediction(combined);
        }
        return new(Json(request.Single ? answers[0] : new JsonArray(answers)), method);
    }

    // A pipeline per request (pipelines run their own batched steps): {"steps": {...}, "kept", "stopped_at", "alerts"} per input.
    private async Task<Outcome> RunPipelineCore(HttpContext context, string name)
    {
        if (!_pipelines.TryGetValue(name, out var entry))
        {
            return new(Error(StatusCodes.Status404NotFound, "NotFound",
                $"No pipeline named '{name}'; this server has {(_pipelines.Count == 0 ? "none" : string.Join(", ", _pipelines.Keys))}.").Result, null, "not_found");
        }
        if (!entry.Slots.Wait(0))
            return Overloaded(context, $"Pipeline '{name}'");
        try
        {
            var maxChars = _options.MaxInputChars ?? entry.Pipeline.Steps.Min(step => entry.Pipeline.Classifier(step.Name).MaxLength) * 250;
            var (request, error) = await ReadRequest(context, maxChars).ConfigureAwait(false);
            if (request == null)
                return error;
            var method = request.Single ? "single" : "batch";
            if (request.Function == ScoreFunction.None)
                return Fail(StatusCodes.Status422UnprocessableEntity, "Validation", "validation", "Pipelines answer with scores; \"raw_scores\" is for /predict.", method);
            var options = new ClassifyOptions
            {
                TopK = request.TopK,
                Truncation = request.Truncate ? TruncationStrategy.LongestFirst : TruncationStrategy.DoNotTruncate,
                TruncationSide = request.TruncationSide,
                LongText = request.LongText,
                Stride = request.Stride,
                Aggregate = request.Aggregate,
            };
            try
            {
                var results = await Task.Run(() => entry.Pipeline.Run(request.Inputs, options, context.RequestAborted)).ConfigureAwait(false);
                var answers = results.Select(r => (JsonNode)new JsonObject
                {
                    ["steps"] = new JsonObject(r.Steps.Select(s => KeyValuePair.Create(s.Key, (JsonNode?)Prediction(s.Value)))),
                    ["kept"] = r.Kept,
                    ["stopped_at"] = r.StoppedAt,
                    ["alerts"] = Names(r.Alerts),
                }).ToArray();
                return new(Json(request.Single ? answers[0] : new JsonArray(answers)), method);
            }
            catch (TokenizationException e)
            {
                return Fail(StatusCodes.Status422UnprocessableEntity, "Validation", "validation", $"{e.Message} Send \"truncate\": true to cut it.", method);
            }
        }
        finally
        {
            entry.Slots.Release();
        }
    }

    // Fast under load (a model busy with requests it answers is healthy), a probe through the idle queue otherwise;
    // a model whose last forward pass failed is unhealthy until one succeeds.
    private async Task<IResult> Health()
    {
        var (healthy, error) = await CheckHealthAsync().ConfigureAwait(false);
        if (!healthy)
        {
            return Results.Text(new JsonObject { ["error"] = error, ["error_type"] = "Unhealthy" }.ToJsonString(Relaxed),
                "application/json", statusCode: StatusCodes.Status503ServiceUnavailable);
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
            ["thread_pool"] = Graphs.Onnx.OnnxRuntimeThreads.Shared ? "shared" : "per model",
            ["max_batch_size"] = _options.MaxBatchSize,
            ["max_batch_tokens"] = _options.MaxBatchTokens,
            ["max_client_batch_size"] = _options.MaxClientBatchSize,
            ["max_concurrent_requests"] = _options.MaxConcurrentRequests,
            ["max_input_chars"] = MaxChars(c),
            ["auto_truncate"] = _options.AutoTruncate,
            ["models"] = Names(_workers.Keys),
            ["pipelines"] = Names(_pipelines.Keys),
            ["version"] = typeof(NuansaServer).Assembly.GetName().Version?.ToString(),
        };
        if (c.Tasks != null)
            info["tasks"] = new JsonObject(c.Tasks.Select(t => KeyValuePair.Create(t.Name, (JsonNode?)new JsonArray([.. t.Labels.Select(l => JsonValue.Create(l))]))));
        return info;
    }

    // A pipeline's steps (labels or tasks, gate, input) and alerts (label → threshold), as the playground shows them.
    private static JsonObject PipelineInfo(string name, Pipeline pipeline) => new()
    {
        ["name"] = name,
        ["steps"] = new JsonArray([.. pipeline.Steps.Select(step =>
        {
            var c = pipeline.Classifier(step.Name);
            var o = new JsonObject
            {
                ["name"] = step.Name,
                ["input"] = step.Input == StepInput.Text ? "text" : "pair",
                ["labels"] = Names(c.Labels),
                ["keep"] = step.Keep == null ? null : Names(step.Keep),
                ["min_score"] = step.Keep == null ? null : step.MinScore,
            };
            if (c.Tasks != null)
                o["tasks"] = new JsonObject(c.Tasks.Select(t => KeyValuePair.Create(t.Name, (JsonNode?)Names(t.Labels))));
            return (JsonNode)o;
        })]),
        ["alerts"] = new JsonArray([.. pipeline.Alerts.Select(a => (JsonNode)new JsonObject
        {
            ["name"] = a.Name,
            ["step"] = a.Step,
            ["labels"] = new JsonObject(a.Labels.Select(l => KeyValuePair.Create(l, (JsonNode?)a.Threshold(l)))),
        })]),
    };

    private IResult UnknownModel(string name) =>
        Error(StatusCodes.Status404NotFound, "NotFound", $"No model named '{name}'; this server has {string.Join(", ", _workers.Keys)}.").Result;

    // Labels and texts are written as they are (no \u escapes for quotes or non-ASCII letters).
    private static readonly JsonSerializerOptions Relaxed = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static IResult Json(JsonNode node) => Results.Text(node.ToJsonString(Relaxed), "application/json");

    // TEI's error body: {"error": "...", "error_type": "Validation" | "Empty" | "Overloaded" | "Backend" | "Unhealthy" | ...}.
    private static (IResult Result, int Status) Error(int status, string type, string message) =>
        (Results.Text(new JsonObject { ["error"] = message, ["error_type"] = type }.ToJsonString(Relaxed), "application/json", statusCode: status), status);
}
