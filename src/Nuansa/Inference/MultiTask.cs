using System.Text.Json.Nodes;
using Nuansa.Checkpoints;

namespace Nuansa.Inference;

/// <summary>
/// Multi-task models ("topic × sentiment", as in the MyPoliBERT card): several softmax groups over one encoder's
/// logits, laid out task after task. Described in <c>config.json</c> by
/// <c>"nuansa_tasks": [{"name": "Economy", "labels": ["Unknown", "Negative", "Neutral", "Positive"]}, ...]</c>,
/// or given when loading a plain checkpoint whose <c>num_labels</c> is tasks × classes.
/// </summary>
public static class MultiTask
{
    /// <summary>The config.json field that declares the tasks.</summary>
    public const string ConfigField = "nuansa_tasks";

    /// <summary>The tasks declared in the config, or null for an ordinary classifier.</summary>
    public static IReadOnlyList<TaskHead>? FromConfig(ModelConfig config)
    {
        if (config[ConfigField] is not JsonNode node)
            return null;
        if (node is not JsonArray array || array.Count == 0)
            throw new CheckpointFormatException($"{config.Source}: \"{ConfigField}\" must be a non-empty list of {{\"name\": ..., \"labels\": [...]}}.");
        var tasks = new List<TaskHead>();
        foreach (var item in array)
        {
            if (item is not JsonObject o || o["name"] is not JsonValue name || !name.TryGetValue(out string? n)
                || o["labels"] is not JsonArray labels || labels.Count == 0 || labels.Any(l => l is not JsonValue v || !v.TryGetValue(out string? _)))
            {
                throw new CheckpointFormatException($"{config.Source}: each entry of \"{ConfigField}\" needs a \"name\" string and a non-empty \"labels\" list of strings.");
            }
            tasks.Add(new TaskHead(n, [.. labels.Select(l => l!.GetValue<string>())]));
        }
        return Validate(tasks, config);
    }

    /// <summary>Tasks that share one label set (e.g. 12 topics × Unknown/Negative/Neutral/Positive).</summary>
    public static IReadOnlyList<TaskHead> Uniform(IEnumerable<string> tasks, IReadOnlyList<string> labels) =>
        [.. tasks.Select(t => new TaskHead(t, labels))];

    /// <summary>The tasks, checked against the model: their labels add up to its outputs and no task is named twice.</summary>
    public static IReadOnlyList<TaskHead> Validate(IReadOnlyList<TaskHead> tasks, ModelConfig config)
    {
        var total = tasks.Sum(t => t.Labels.Count);
        if (total != config.NumLabels)
            throw new CheckpointFormatException($"{config.Source}: the tasks have {total} labels in all, but the model has {config.NumLabels} outputs.");
        var duplicate = tasks.GroupBy(t => t.Name).FirstOrDefault(g => g.Count() > 1);
        if (duplicate != null)
            throw new CheckpointFormatException($"{config.Source}: task \"{duplicate.Key}\" is named twice.");
        return tasks;
    }
}
