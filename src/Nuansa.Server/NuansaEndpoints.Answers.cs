using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Nuansa.Inference;

namespace Nuansa.Server;

/// <summary>The answers: health, info, predictions and errors as JSON in TEI's shapes.</summary>
internal sealed partial class NuansaEndpoints
{
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
        return Json(new JsonObject { ["status"] = "ok", ["models"] = Names(_queues.Keys), ["pipelines"] = Names(_pipelines.Keys) });
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

    private JsonObject Info(string name, ClassificationQueue queue)
    {
        var c = queue.Classifier;
        var info = new JsonObject
        {
            ["model_id"] = name,
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
            ["max_input_chars"] = queue.MaxInputChars,
            ["max_windows"] = _options.MaxWindows,
            ["max_tokenizing_chars"] = _options.MaxTokenizingChars,
            ["auto_truncate"] = _options.AutoTruncate,
            ["models"] = Names(_queues.Keys),
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
        Error(StatusCodes.Status404NotFound, "NotFound", $"No model named '{name}'; this server has {string.Join(", ", _queues.Keys)}.").Result;

    // Labels and texts are written as they are (no \u escapes for quotes or non-ASCII letters).
    private static readonly JsonSerializerOptions Relaxed = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static IResult Json(JsonNode node) => Results.Text(node.ToJsonString(Relaxed), "application/json");

    // TEI's error body: {"error": "...", "error_type": "Validation" | "Empty" | "Overloaded" | "Backend" | "Unhealthy" | ...}.
    private static (IResult Result, int Status) Error(int status, string type, string message) =>
        (Results.Text(new JsonObject { ["error"] = message, ["error_type"] = type }.ToJsonString(Relaxed), "application/json", statusCode: status), status);
}
