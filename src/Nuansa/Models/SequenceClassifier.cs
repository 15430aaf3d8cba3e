using Nuansa.Checkpoints;
using Nuansa.Graphs;

namespace Nuansa.Models;

/// <summary>Picks the architecture for a config, as HF's <c>AutoModelForSequenceClassification</c> does.</summary>
internal static class SequenceClassifier
{
    /// <summary>The inference graph: token ids and mask in, <c>logits</c> out, weights baked in as constants.</summary>
    public static Graph Build(ModelConfig config, WeightStore store, GraphOptions? options = null)
    {
        var g = new GraphBuilder($"{config.ModelType.Replace('-', '_')}_for_sequence_classification");
        var weights = new ModelWeights(store, BasePrefix(config), quantization: options?.Quantization ?? Quantization.None, int8Weights: options?.Int8Weights ?? Int8Weights.Auto);
        var logits = Forward(g, weights, config, options);
        g.Output(logits, "logits", ElementType.Float, "batch", config.NumLabels);
        if (weights.Quantization == Quantization.Int8)
        {
            // Recorded in the file so whoever runs an exported model can tell whether it is exact on their CPU.
            g.Metadata["nuansa.quantization"] = "int8";
            g.Metadata["nuansa.int8_weights"] = weights.Int8Weights == Int8Weights.FullRange
                ? "full_range: int8 weights in ±127; exact only on CPUs with int8 dot products (AVX512-VNNI, AVX-VNNI, Arm64)"
                : "reduced_range: int8 weights in ±64 (7 bits); exact on every CPU";
        }
        return g.Build();
    }

    /// <summary>The forward pass of the config's architecture added to <paramref name="g"/>; returns the logits.</summary>
    public static string Forward(GraphBuilder g, ModelWeights w, ModelConfig config, GraphOptions? options = null) => config.ModelType switch
    {
        "bert" => Bert.Forward(g, w, config, options ?? new GraphOptions()),
        "distilbert" => DistilBert.Forward(g, w, config, options ?? new GraphOptions()),
        "roberta" or "xlm-roberta" => Roberta.Forward(g, w, config, options ?? new GraphOptions()),
        _ => throw new UnsupportedModelException($"{config.Source}: model_type \"{config.ModelType}\" has no sequence-classification graph."),
    };

    /// <summary>The prefix of the base model's weights (<c>bert.</c>, <c>roberta.</c>, <c>distilbert.</c>).</summary>
    public static string BasePrefix(ModelConfig config) => config.ModelType switch
    {
        "distilbert" => "distilbert.",
        "roberta" or "xlm-roberta" => "roberta.",
        _ => "bert.",
    };

    /// <summary>
    /// The most tokens the position table holds: <c>max_position_embeddings</c>, less RoBERTa's offset (its positions
    /// start after <c>padding_idx</c>, so 514 entries take 512 tokens).
    /// </summary>
    public static int MaxPositions(ModelConfig config) =>
        config.ModelType is "roberta" or "xlm-roberta" ? config.MaxPositionEmbeddings - ((config.PadTokenId ?? 1) + 1) : config.MaxPositionEmbeddings;

    /// <summary>The graph's inputs besides input_ids and attention_mask: BERT also takes token_type_ids.</summary>
    public static bool UsesTokenTypes(ModelConfig config) => config.ModelType == "bert";
}
