using System.Text.Json;
using System.Text.Json.Nodes;
using Nuansa.Inference;

namespace Nuansa.Server;

/// <summary>A request the server cannot take, with the reason.</summary>
public sealed class RequestException(string message) : Exception(message);

/// <summary>
/// A classification request: TEI's <c>/predict</c> body (<see cref="Parse"/>) or HF's Inference API body
/// (<see cref="ParseHuggingFace"/>). A single input answers with one result, a list with a list.
/// </summary>
public sealed record PredictRequest(IReadOnlyList<TextInput> Inputs, bool Single, bool Truncate, ScoreFunction Function, int? TopK)
{
    /// <summary>
    /// TEI: <c>{"inputs": ..., "truncate": bool, "raw_scores": bool}</c> (plus <c>top_k</c>); <c>inputs</c> is a text,
    /// a [context, text] pair, or a list of those. Every label is returned unless <c>top_k</c> says otherwise.
    /// </summary>
    public static PredictRequest Parse(JsonNode? body, bool autoTruncate)
    {
        if (body is not JsonObject o)
            throw new RequestException("The body must be a JSON object with \"inputs\".");
        var known = new HashSet<string>(StringComparer.Ordinal) { "inputs", "truncate", "raw_scores", "top_k", "truncation_direction" };
        var unknown = o.Select(p => p.Key).FirstOrDefault(k => !known.Contains(k));
        if (unknown != null)
            throw new RequestException($"Unknown field \"{unknown}\" (the fields are {string.Join(", ", known)}).");
        if (o["truncation_direction"] is JsonNode direction && direction.GetValueKind() == JsonValueKind.String && direction.GetValue<string>() != "Right")
            throw new RequestException("Only \"truncation_direction\": \"Right\" is supported.");
        var inputs = o["inputs"] ?? throw new RequestException("\"inputs\" is missing.");
        var (list, single) = inputs switch
        {
            JsonValue v when v.GetValueKind() == JsonValueKind.String => ([new TextInput(v.GetValue<string>())], true),
            JsonArray a when a.Count > 0 => (a.Select(Input).ToArray(), false),
            JsonArray => throw new RequestException("\"inputs\" is an empty list."),
            _ => throw new RequestException("\"inputs\" must be a text, a [context, text] pair, or a list of those."),
        };
        int? topK = o["top_k"] switch
        {
            null => null,
            JsonValue v when v.GetValueKind() == JsonValueKind.Number && v.TryGetValue(out int k) && k > 0 => k,
            _ => throw new RequestException("\"top_k\" must be a positive integer."),
        };
        return new PredictRequest(list, single, Bool(o, "truncate") ?? autoTruncate, Bool(o, "raw_scores") == true ? ScoreFunction.None : ScoreFunction.Default, topK);
    }

    /// <summary>
    /// HF's Inference API and text-classification pipeline: <c>{"inputs": text | {"text", "text_pair"} | list of those,
    /// "parameters": {"top_k": n | null, "function_to_apply": "softmax" | "sigmoid" | "none", "truncation": bool}}</c>;
    /// as in the pipeline, only the best label comes back unless <c>top_k</c> asks for more (null: all).
    /// </summary>
    public static PredictRequest ParseHuggingFace(JsonNode? body, bool autoTruncate)
    {
        if (body is not JsonObject o)
            throw new RequestException("The body must be a JSON object with \"inputs\".");
        var unknown = o.Select(p => p.Key).FirstOrDefault(k => k is not ("inputs" or "parameters" or "options"));
        if (unknown != null)
            throw new RequestException($"Unknown field \"{unknown}\" (the fields are inputs, parameters).");
        TextInput Item(JsonNode? node) => node switch
        {
            JsonValue v when v.GetValueKind() == JsonValueKind.String => new TextInput(v.GetValue<string>()),
            JsonObject p when p["text"] is JsonValue t && t.GetValueKind() == JsonValueKind.String
                && (p["text_pair"] is null || (p["text_pair"] is JsonValue pv && pv.GetValueKind() == JsonValueKind.String))
                && p.All(f => f.Key is "text" or "text_pair") =>
                p["text_pair"] is JsonValue pair ? TextInput.WithContext(t.GetValue<string>(), pair.GetValue<string>()) : new TextInput(t.GetValue<string>()),
            _ => throw new RequestException("Each input must be a text or {\"text\": ..., \"text_pair\": ...}."),
        };
        var (list, single) = o["inputs"] switch
        {
            null => throw new RequestException("\"inputs\" is missing."),
            JsonArray { Count: 0 } => throw new RequestException("\"inputs\" is an empty list."),
            JsonArray a => (a.Select(Item).ToArray(), false),
            var one => ([Item(one)], true),
        };
        var parameters = o["parameters"] switch
        {
            null => new JsonObject(),
            JsonObject p => p,
            _ => throw new RequestException("\"parameters\" must be an object."),
        };
        var unknownParameter = parameters.Select(p => p.Key).FirstOrDefault(k => k is not ("top_k" or "function_to_apply" or "truncation"));
        if (unknownParameter != null)
            throw new RequestException($"Unknown parameter \"{unknownParameter}\" (top_k, function_to_apply, truncation).");
        int? topK = !parameters.ContainsKey("top_k") ? 1 : parameters["top_k"] switch
        {
            null => null,
            JsonValue v when v.GetValueKind() == JsonValueKind.Number && v.TryGetValue(out int k) && k > 0 => k,
            _ => throw new RequestException("\"top_k\" must be a positive integer or null."),
        };
        var function = parameters["function_to_apply"] switch
        {
            null => ScoreFunction.Default,
            JsonValue v when v.GetValueKind() == JsonValueKind.String && v.GetValue<string>() is "softmax" or "sigmoid" or "none" =>
                v.GetValue<string>() switch { "softmax" => ScoreFunction.Softmax, "sigmoid" => ScoreFunction.Sigmoid, _ => ScoreFunction.None },
            _ => throw new RequestException("\"function_to_apply\" must be \"softmax\", \"sigmoid\" or \"none\"."),
        };
        return new PredictRequest(list, single, Bool(parameters, "truncation") ?? autoTruncate, function, topK);
    }

    // A top-level ["a", "b"] is a batch of two texts, as in TEI; a pair is an inner [context, text].
    private static TextInput Input(JsonNode? node) => node switch
    {
        JsonValue v when v.GetValueKind() == JsonValueKind.String => new TextInput(v.GetValue<string>()),
        JsonArray a when a.Count == 2 => Pair(a),
        _ => throw new RequestException("Each input must be a text or a [context, text] pair of texts."),
    };

    private static TextInput Pair(JsonArray a) =>
        a[0] is JsonValue c && c.GetValueKind() == JsonValueKind.String && a[1] is JsonValue t && t.GetValueKind() == JsonValueKind.String
            ? TextInput.WithContext(c.GetValue<string>(), t.GetValue<string>())
            : throw new RequestException("A pair must be two texts: [context, text].");

    private static bool? Bool(JsonObject o, string name) => o[name] switch
    {
        null => null,
        JsonValue v when v.GetValueKind() is JsonValueKind.True or JsonValueKind.False => v.GetValue<bool>(),
        _ => throw new RequestException($"\"{name}\" must be true or false."),
    };
}
