using System.Text.Json.Nodes;
using Nuansa.Checkpoints;
using Nuansa.Models;

namespace Nuansa.Training;

/// <summary>
/// Fine-tuning from a base checkpoint (<c>bert-base-uncased</c>, <c>indobert-large-p2</c>, ...), as HF's
/// <c>AutoModelForSequenceClassification.from_pretrained(base, num_labels=...)</c> does it: the label set comes from
/// the user, and the classification head the checkpoint lacks — or has for another number of labels, HF's
/// <c>ignore_mismatched_sizes</c> — is initialized as HF initializes it (normal(0, initializer_range), zero bias).
/// </summary>
internal static class ClassificationHead
{
    /// <summary>The config with <paramref name="labels"/> as its <c>id2label</c> / <c>label2id</c> (and <c>num_labels</c>).</summary>
    public static ModelConfig WithLabels(ModelConfig config, IReadOnlyList<string> labels)
    {
        if (labels.Count == 0 || labels.Distinct(StringComparer.Ordinal).Count() != labels.Count || labels.Any(string.IsNullOrWhiteSpace))
            throw new NuansaException("Labels must be distinct, non-empty names.");
        var json = JsonNode.Parse(config.ToJson())!.AsObject();
        json["id2label"] = new JsonObject(labels.Select((l, i) => KeyValuePair.Create(i.ToString(System.Globalization.CultureInfo.InvariantCulture), (JsonNode?)l)));
        json["label2id"] = new JsonObject(labels.Select((l, i) => KeyValuePair.Create(l, (JsonNode?)i)));
        json.Remove("num_labels");
        return ModelConfig.Parse(json.ToJsonString(), config.Source);
    }

    /// <summary>
    /// Adds to <paramref name="store"/> every head parameter the checkpoint lacks or holds in another shape, freshly
    /// initialized, and returns their names. Encoder weights are never invented: a missing one still fails when the
    /// graph is built, naming the tensor.
    /// </summary>
    public static IReadOnlyList<string> InitializeMissing(ModelConfig config, WeightStore store, int seed)
    {
        var architecture = Architecture.For(config);
        var prefix = architecture.BasePrefix;
        var weights = new ModelWeights(store, prefix);
        var random = new Random(seed);
        var added = new List<string>();
        foreach (var p in architecture.Parameters(config))
        {
            var isHead = !p.Name.StartsWith(prefix, StringComparison.Ordinal) || p.Name.StartsWith(prefix + "pooler.", StringComparison.Ordinal);
            if (!isHead || (weights.Has(p.Name) && Shape(store, weights, p.Name).SequenceEqual(p.Shape)))
                continue;
            store.Put(p.Name, p.Shape, ModelInitializer.InitialValues(p, config, random));
            added.Add(p.Name);
        }
        return added;
    }

    private static IReadOnlyList<long> Shape(WeightStore store, ModelWeights weights, string name) =>
        store.GetInfo(weights.ResolveName(name)).Shape;
}
