using Nuansa.Checkpoints;
using Nuansa.Graphs;

namespace Nuansa.Models;

/// <summary>Picks the architecture for a config, as HF's <c>AutoModelForSequenceClassification</c> does.</summary>
public static class SequenceClassifier
{
    public static Graph Build(ModelConfig config, WeightStore store, GraphOptions? options = null) => config.ModelType switch
    {
        "bert" => Bert.Build(config, store, options),
        "distilbert" => DistilBert.Build(config, store, options),
        "roberta" or "xlm-roberta" => Roberta.Build(config, store, options),
        _ => throw new UnsupportedModelException($"{config.Source}: model_type \"{config.ModelType}\" has no sequence-classification graph."),
    };

    /// <summary>The graph's inputs besides input_ids and attention_mask: BERT also takes token_type_ids.</summary>
    public static bool UsesTokenTypes(ModelConfig config) => config.ModelType == "bert";
}
