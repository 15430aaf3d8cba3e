using System.Text.Json;
using System.Text.Json.Nodes;
using Nuansa.Inference;
using Nuansa.Tokenization;

namespace Nuansa.Server;

/// <summary>A request the server cannot take, with the reason (TEI's <c>Validation</c>, 422).</summary>
internal class RequestException(string message) : Exception(message);

/// <summary>A request with nothing to classify (TEI's <c>Empty</c>, 400).</summary>
internal sealed class EmptyRequestException(string message) : RequestException(message);

/// <summary>
/// A classification request: TEI's <c>/predict</c> body (<see cref="Parse"/>) or HF's Inference API body
/// (<see cref="ParseHuggingFace"/>). <see cref="Single"/>: the answer is one list of labels, not a list of lists.
/// </summary>
internal sealed record PredictRequest(IReadOnlyList<TextInput> Inputs, bool Single, bool Truncate, ScoreFunction Function, int? TopK,
    TruncationSide TruncationSide = TruncationSide.Right, LongText LongText = LongText.Truncate, int Stride = 0, WindowAggregate Aggregate = WindowAggregate.Mean)
{
    /// <summary>
    /// TEI's grammar (router/src/http/types.rs): <c>inputs</c> is a string (one text), <c>["a"]</c> (one text),
    /// <c>["a", "b"]</c> (one pair), or an array of arrays — a batch whose items are <c>[text]</c> or
    /// <c>[first, second]</c>; three strings are refused. <c>truncate</c>, <c>truncation_direction</c> (left or right,
    /// any case TEI takes) and <c>raw_scores</c> as TEI; <c>top_k</c> is Nuansa's; other fields are ignored, as TEI does.
    /// </summary>
    public static PredictRequest Parse(JsonNode? body, bool autoTruncate)
    {
        if (body is not JsonObject o)
            throw new RequestException("The body must be a JSON object with \"inputs\".");
        var side = o["truncation_direction"] switch
        {
            null => TruncationSide.Right,
            JsonValue v when v.GetValueKind() == JsonValueKind.String && v.GetValue<string>() is "left" or "Left" => TruncationSide.Left,
            JsonValue v when v.GetValueKind() == JsonValueKind.String && v.GetValue<string>() is "right" or "Right" => TruncationSide.Right,
            _ => throw new RequestException("\"truncation_direction\" must be \"left\" or \"right\"."),
        };
        var (list, single) = o["inputs"] switch
        {
            null => throw new RequestException("\"inputs\" is missing."),
            JsonValue v when v.GetValueKind() == JsonValueKind.String => ([new TextInput(Text(v))], true),
            JsonArray { Count: 0 } => throw new EmptyRequestException("`inputs` cannot be empty"),
            // A first element that is a string: the whole array is one input, a text or a pair.
            JsonArray a when a[0] is JsonValue => (new[] { Sequence(a, "inputs") }, true),
            JsonArray a => (a.Select((item, i) => item is JsonArray s ? Sequence(s, $"inputs[{i}]")
                : throw new RequestException($"inputs[{i}]: a batch holds [text] or [first, second] arrays.")).ToArray(), false),
            _ => throw new RequestException("\"inputs\" must be a string, a pair of strings [string, string] or a batch of mixed strings and pairs [[string], [string, string], ...]."),
        };
        int? topK = o["top_k"] switch
        {
            null => null,
            JsonValue v when v.GetValueKind() == JsonValueKind.Number && v.TryGetValue(out int k) && k > 0 => k,
            _ => throw new RequestException("\"top_k\" must be a positive integer."),
        };
        // Nuansa's extensions for long documents: "long_text": "chunk" classifies overlapping windows.
        var longText = o["long_text"] switch
        {
            null => LongText.Truncate,
            JsonValue v when v.GetValueKind() == JsonValueKind.String && v.GetValue<string>() is "truncate" => LongText.Truncate,
            JsonValue v when v.GetValueKind() == JsonValueKind.String && v.GetValue<string>() is "chunk" => LongText.Chunk,
            _ => throw new RequestException("\"long_text\" must be \"truncate\" or \"chunk\"."),
        };
        var stride = o["stride"] switch
        {
            null => 0,
            JsonValue v when v.GetValueKind() == JsonValueKind.Number && v.TryGetValue(out int n) && n >= 0 => n,
            _ => throw new RequestException("\"stride\" must be a non-negative integer."),
        };
        var aggregate = o["aggregate"] switch
        {
            null => WindowAggregate.Mean,
            JsonValue v when v.GetValueKind() == JsonValueKind.String && v.GetValue<string>() is "mean" or "max" or "first" =>
                v.GetValue<string>() switch { "max" => WindowAggregate.Max, "first" => WindowAggregate.First, _ => WindowAggregate.Mean },
            _ => throw new RequestException("\"aggregate\" must be \"mean\", \"max\" or \"first\"."),
        };
        return new PredictRequest(list, single, Bool(o, "truncate") ?? autoTruncate, Bool(o, "raw_scores") == true ? ScoreFunction.None : ScoreFunction.Default, topK, side,
            longText, stride, aggregate);
    }

    /// <summary>One TEI sequence: [text] or [first, second] (the first is the context of a context-conditioned model).</summary>
    private static TextInput Sequence(JsonArray a, string where)
    {
        if (a.Count is < 1 or > 2)
            throw new RequestException($"{where}: a sequence is [text] or [first, second], not {a.Count} strings.");
        if (a.Any(x => x is not JsonValue v || v.GetValueKind() != JsonValueKind.String))
            throw new RequestException($"{where}: a sequence holds strings only.");
        return a.Count == 1 ? new TextInput(Text(a[0]!.AsValue())) : TextInput.WithContext(Text(a[0]!.AsValue()), Text(a[1]!.AsValue()));
    }

    /// <summary>A JSON string that is valid Unicode: an escaped lone surrogate (<c>\ud800</c>) is refused, not passed on.</summary>
    internal static string Text(JsonValue value)
    {
        var text = value.GetValue<string>();
        for (var i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
                i++;
            else if (char.IsSurrogate(text[i]))
                throw new RequestException($"A text holds a lone surrogate (U+{(int)text[i]:X4}) at character {i}: it is not valid Unicode.");
        }
        return text;
    }

    /// <summary>
    /// HF's Inference API: <c>{"inputs": text | {"text", "text_pair"} | list of those, "parameters": {"top_k": n | null,
    /// "function_to_apply": "softmax" | "sigmoid" | "none", "truncation": bool}}</c>; every label comes back, best
    /// first, unless <c>top_k</c> is given, and the answer is one list per input also for a single string.
    /// </summary>
    public static PredictRequest ParseHuggingFace(JsonNode? body, bool autoTruncate)
    {
        if (body is not JsonObject o)
            throw new RequestException("The body must be a JSON object with \"inputs\".");
        var unknown = o.Select(p => p.Key).FirstOrDefault(k => k is not ("inputs" or "parameters" or "options"));
        if (unknown != null)
            throw new RequestException($"Unknown field \"{unknown}\" (the fields are inputs, parameters).");
        static bool IsText(JsonNode? n) => n is JsonValue v && v.GetValueKind() == JsonValueKind.String;
        // HF's {"text", "text_pair"} ([CLS] text [SEP] text_pair [SEP]), or {"context", "text"} ([CLS] context [SEP] text [SEP]).
        TextInput Item(JsonNode? node) => node switch
        {
            JsonValue v when v.GetValueKind() == JsonValueKind.String => new TextInput(Text(v)),
            JsonObject p when IsText(p["text"]) && p.All(f => f.Key is "text" or "text_pair" or "context" && IsText(f.Value))
                && !(p.ContainsKey("text_pair") && p.ContainsKey("context")) =>
                p["context"] is JsonValue c ? TextInput.WithContext(Text(c), Text(p["text"]!.AsValue()))
                : new TextInput(Text(p["text"]!.AsValue()), p["text_pair"] is JsonValue pair ? Text(pair) : null),
            _ => throw new RequestException("Each input must be a text, {\"text\": ..., \"text_pair\": ...} or {\"context\": ..., \"text\": ...}."),
        };
        var list = o["inputs"] switch
        {
            null => throw new RequestException("\"inputs\" is missing."),
            JsonArray { Count: 0 } => throw new EmptyRequestException("`inputs` cannot be empty"),
            JsonArray a => a.Select(Item).ToArray(),
            var one => [Item(one)],
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
        int? topK = parameters["top_k"] switch
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
        // The huggingface_hub client takes element [0] of the answer: a list per input, even for one string.
        return new PredictRequest(list, false, Bool(parameters, "truncation") ?? autoTruncate, function, topK);
    }

    private static bool? Bool(JsonObject o, string name) => o[name] switch
    {
        null => null,
        JsonValue v when v.GetValueKind() is JsonValueKind.True or JsonValueKind.False => v.GetValue<bool>(),
        _ => throw new RequestException($"\"{name}\" must be true or false."),
    };
}
