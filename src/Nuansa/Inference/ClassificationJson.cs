using System.Text.Json;

namespace Nuansa.Inference;

/// <summary>The JSON <c>nuansa classify</c> writes for one input: <c>{"labels": [...], "logits": [...]}</c>, or <c>{"tasks": {...}, "logits": [...]}</c>.</summary>
public static class ClassificationJson
{
    private static readonly JsonWriterOptions Relaxed = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>One result as a compact JSON object.</summary>
    public static string ToJson(Classification result)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, Relaxed))
        {
            json.WriteStartObject();
            WriteFields(json, result);
            json.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    /// <summary>The fields of one result, into an object the caller has opened.</summary>
    public static void WriteFields(Utf8JsonWriter json, Classification result)
    {
        if (result.Tasks != null)
        {
            json.WriteStartObject("tasks");
            foreach (var (task, labels) in result.Tasks)
                WriteLabels(json, task, labels);
            json.WriteEndObject();
        }
        else
        {
            WriteLabels(json, "labels", result.Labels);
        }
        json.WriteStartArray("logits");
        foreach (var l in result.Logits)
            json.WriteNumberValue(l);
        json.WriteEndArray();
    }

    /// <summary><c>"name": [{"label", "score"}, ...]</c>.</summary>
    public static void WriteLabels(Utf8JsonWriter json, string name, IEnumerable<LabelScore> labels)
    {
        json.WriteStartArray(name);
        foreach (var l in labels)
        {
            json.WriteStartObject();
            json.WriteString("label", l.Label);
            json.WriteNumber("score", l.Score);
            json.WriteEndObject();
        }
        json.WriteEndArray();
    }

    /// <summary>One compact JSON object per item, each on its own line (JSON Lines), non-ASCII text written as is.</summary>
    public static string Lines<T>(IEnumerable<T> items, Action<Utf8JsonWriter, T> write)
    {
        var text = new System.Text.StringBuilder();
        using var buffer = new MemoryStream();
        foreach (var item in items)
        {
            buffer.SetLength(0);
            using (var json = new Utf8JsonWriter(buffer, Relaxed))
                write(json, item);
            text.Append(System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length)).Append('\n');
        }
        return text.ToString();
    }
}
