using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Nuansa.Inference;

namespace Nuansa.Server;

/// <summary>The request handlers: read and parse the body, submit to the model's queue, map its failures to HTTP.</summary>
internal sealed partial class NuansaEndpoints
{
    // Unknown names share one label: a client must not be able to grow the metrics without bound.
    private Task<IResult> Predict(HttpContext context, string model, bool huggingFace = false) =>
        Measured(_queues.ContainsKey(model) ? model : "(unknown)", () => PredictCore(context, model, huggingFace));

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

    /// <summary>
    /// The one table from a failure kind to TEI's status, error type and metric label; every handler answers failures through it.
    /// </summary>
    private static Outcome Failed(HttpContext context, FailureKind kind, string message, string? method = null)
    {
        var (status, type, label) = kind switch
        {
            FailureKind.Empty => (StatusCodes.Status400BadRequest, "Empty", "empty"),
            FailureKind.Validation => (StatusCodes.Status422UnprocessableEntity, "Validation", "validation"),
            FailureKind.TooLarge => (StatusCodes.Status413PayloadTooLarge, "Validation", "too_large"),
            FailureKind.Overloaded => (StatusCodes.Status429TooManyRequests, "Overloaded", "overloaded"),
            FailureKind.Backend => (StatusCodes.Status424FailedDependency, "Backend", "backend"),
            _ => (StatusCodes.Status503ServiceUnavailable, "Unhealthy", "unhealthy"),
        };
        if (kind == FailureKind.Overloaded)
            context.Response.Headers.RetryAfter = "1";
        return Fail(status, type, label, message, method);
    }

    /// <summary>
    /// A failure that is the client's doing, with the status it gets: a body over the size limit (413), one slower than
    /// the minimum rate or the body timeout (408), bad chunk framing (400), a connection reset mid-body (400; nobody
    /// reads it). Null for anything else.
    /// </summary>
    internal static (int Status, string Message)? ClientFault(Exception e) => e switch
    {
        BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge } => null,
        BadHttpRequestException b => (b.StatusCode, $"The request body could not be read: {b.Message}"),
        Microsoft.AspNetCore.Connections.ConnectionResetException or IOException => (StatusCodes.Status400BadRequest, $"The request body could not be read: {e.Message}"),
        _ => null,
    };

    // The whole body, read and parsed before the request takes any of the model's capacity, under the size limit, the
    // minimum data rate and the body timeout: a slow upload holds a connection, never a place in the queue.
    private async Task<(PredictRequest? Request, Outcome Error)> ReadRequest(HttpContext context, bool huggingFace = false)
    {
        if (!context.Request.HasJsonContentType())
        {
            return (null, Fail(StatusCodes.Status415UnsupportedMediaType, "Validation", "validation",
                $"Expected request with `Content-Type: application/json`, not '{context.Request.ContentType}'."));
        }
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        timeout.CancelAfter(_options.RequestBodyTimeout);
        PredictRequest request;
        try
        {
            // Duplicate keys are an error, not "the last one wins"; invalid or overlong UTF-8 fails in the reader.
            var body = await JsonNode.ParseAsync(context.Request.Body, documentOptions: new JsonDocumentOptions { MaxDepth = 8, AllowDuplicateProperties = false },
                cancellationToken: timeout.Token).ConfigureAwait(false);
            request = huggingFace ? PredictRequest.ParseHuggingFace(body, _options.AutoTruncate) : PredictRequest.Parse(body, _options.AutoTruncate);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !context.RequestAborted.IsCancellationRequested)
        {
            return (null, Fail(StatusCodes.Status408RequestTimeout, "Validation", "client",
                $"The request body did not arrive within {_options.RequestBodyTimeout.TotalSeconds:0} s."));
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return (null, Fail(StatusCodes.Status413PayloadTooLarge, "Validation", "payload_too_large", $"The request body is larger than {_options.MaxRequestBytes} bytes."));
        }
        catch (Exception e) when (ClientFault(e) is { } fault)
        {
            return (null, Fail(fault.Status, "Validation", "client", fault.Message));
        }
        catch (JsonException e)
        {
            return (null, Failed(context, FailureKind.Validation, $"The body is not valid JSON: {e.Message}"));
        }
        catch (InvalidOperationException e)
        {
            // System.Text.Json refuses to hand out a string whose escapes make invalid UTF-16 (a lone surrogate).
            return (null, Failed(context, FailureKind.Validation, $"A text is not valid Unicode (a lone surrogate?): {e.Message}"));
        }
        catch (EmptyRequestException e)
        {
            return (null, Failed(context, FailureKind.Empty, e.Message));
        }
        catch (RequestException e)
        {
            return (null, Failed(context, FailureKind.Validation, e.Message));
        }
        return (request, default);
    }

    private static ClassifyOptions ClassifyOptionsOf(PredictRequest request) => new()
    {
        TopK = request.TopK,
        Function = request.Function,
        Truncation = request.Truncate ? Tokenization.TruncationStrategy.LongestFirst : Tokenization.TruncationStrategy.DoNotTruncate,
        TruncationSide = request.TruncationSide,
        LongText = request.LongText,
        Stride = request.Stride,
        Aggregate = request.Aggregate,
    };

    private async Task<Outcome> PredictCore(HttpContext context, string model, bool huggingFace)
    {
        if (!_queues.TryGetValue(model, out var queue))
            return new(UnknownModel(model), null, "not_found");
        // A body whose characters could not be tokenized now is refused unread: under a flood of huge requests, parsing
        // each one only to refuse it would take the cores the answers (and /health) need. Bytes bound characters from above.
        if (context.Request.ContentLength is { } length && !queue.Tokenizing.HasRoomFor(length))
        {
            return Failed(context, FailureKind.Overloaded,
                $"Too many characters are being tokenized ({queue.Tokenizing.InUse} of {queue.Tokenizing.Capacity}) for a body of {length} bytes; retry shortly.");
        }
        var (request, error) = await ReadRequest(context, huggingFace).ConfigureAwait(false);
        if (request == null)
            return error;
        var method = request.Single ? "single" : "batch";
        try
        {
            var results = await queue.ClassifyAsync(request.Inputs, ClassifyOptionsOf(request), context.RequestAborted).ConfigureAwait(false);
            var predictions = results.Select(Prediction).ToArray();
            return new(Json(request.Single ? predictions[0] : new JsonArray(predictions)), method);
        }
        catch (ClassificationFailedException e)
        {
            return Failed(context, e.Kind, e.Message, method);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client left: its tokenizing stopped and its forward passes were dropped. Nobody reads this answer.
            return new(Results.Empty, method, "cancelled");
        }
    }

    // A pipeline per request (pipelines run their own batched steps): {"steps": {...}, "kept", "stopped_at", "alerts"} per input.
    private async Task<Outcome> RunPipelineCore(HttpContext context, string name)
    {
        if (!_pipelines.TryGetValue(name, out var entry))
        {
            return new(Error(StatusCodes.Status404NotFound, "NotFound",
                $"No pipeline named '{name}'; this server has {(_pipelines.Count == 0 ? "none" : string.Join(", ", _pipelines.Keys))}.").Result, null, "not_found");
        }
        var (request, error) = await ReadRequest(context).ConfigureAwait(false);
        if (request == null)
            return error;
        var method = request.Single ? "single" : "batch";
        if (!entry.Slots.Wait(0))
            return Failed(context, FailureKind.Overloaded, $"Pipeline '{name}' is overloaded: too many requests in flight; retry shortly.", method);
        try
        {
            var maxChars = _options.MaxInputChars ?? entry.Pipeline.Steps.Min(step => entry.Pipeline.Classifier(step.Name).MaxLength) * 250;
            ClassificationQueue.CheckLimits(request.Inputs, _options.MaxClientBatchSize, maxChars);
            if (request.Function == ScoreFunction.None)
                return Failed(context, FailureKind.Validation, "Pipelines answer with scores; \"raw_scores\" is for /predict.", method);
            var results = await Task.Run(() => entry.Pipeline.Run(request.Inputs, ClassifyOptionsOf(request), context.RequestAborted)).ConfigureAwait(false);
            var answers = results.Select(r => (JsonNode)new JsonObject
            {
                ["steps"] = new JsonObject(r.Steps.Select(s => KeyValuePair.Create(s.Key, (JsonNode?)Prediction(s.Value)))),
                ["kept"] = r.Kept,
                ["stopped_at"] = r.StoppedAt,
                ["alerts"] = Names(r.Alerts),
            }).ToArray();
            return new(Json(request.Single ? answers[0] : new JsonArray(answers)), method);
        }
        catch (ClassificationFailedException e)
        {
            return Failed(context, e.Kind, e.Message, method);
        }
        catch (TokenizationException e)
        {
            return Failed(context, FailureKind.Validation, $"{e.Message} Send \"truncate\": true to cut it.", method);
        }
        finally
        {
            entry.Slots.Release();
        }
    }
}
