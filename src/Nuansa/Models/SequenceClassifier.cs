using Nuansa.Checkpoints;
using Nuansa.Graphs;

namespace Nuansa.Models;

/// <summary>The inference graph of a checkpoint, its family picked from the config as HF's <c>AutoModelForSequenceClassification</c> does.</summary>
internal static class SequenceClassifier
{
    /// <summary>The inference graph: token ids and mask in, <c>logits</c> out, weights baked in as constants.</summary>
    public static Graph Build(ModelConfig config, WeightStore store, GraphOptions? options = null)
    {
        options ??= new GraphOptions();
        var architecture = Architecture.For(config);
        var g = new GraphBuilder($"{config.ModelType.Replace('-', '_')}_for_sequence_classification");
        var weights = new ModelWeights(store, architecture.BasePrefix, quantization: options.Quantization, int8Weights: options.Int8Weights, fused: options.Fused);
        var logits = architecture.Forward(g, weights, config, options);
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
}
