using Nuansa.Checkpoints;
using Nuansa.Graphs;

namespace Nuansa.Models;

/// <summary>Graph pieces shared by the BERT family: the additive attention mask, multi-head attention, activations.</summary>
internal static class Transformer
{
    /// <summary>
    /// The attention mask as the attention layers take it: for the fused operators the [batch, seq] 0/1 mask as
    /// int32; otherwise <see cref="AttentionBias"/>.
    /// </summary>
    public static string AttentionMask(GraphBuilder g, ModelWeights w, string attentionMask) =>
        w.Fused ? g.Cast(attentionMask, ElementType.Int32) : AttentionBias(g, attentionMask);

    /// <summary>[batch, seq] 0/1 mask (int64 or int32) → [batch, 1, 1, seq] with 0 for real tokens and float32's minimum for padding, as HF adds it.</summary>
    private static string AttentionBias(GraphBuilder g, string attentionMask)
    {
        var mask = g.Cast(attentionMask, ElementType.Float);
        var bias = g.Mul(g.Sub(g.Scalar(1f), mask), g.Scalar(float.MinValue));
        return g.Unsqueeze(bias, 1, 2);
    }

    /// <summary>
    /// <c>nn.Dropout</c>: identity at inference; in a training graph x·(1/(1 − p)) where a boolean mask input keeps it,
    /// 0 elsewhere. The trainer draws the mask for every step (see <see cref="ModelWeights.DropoutMasks"/>); being a
    /// bool input, it is all the backward pass needs, at a quarter of a float mask's memory.
    /// </summary>
    public static string Dropout(GraphBuilder g, ModelWeights w, string x, double probability, GraphOptions options)
    {
        if (!options.Training || probability <= 0)
            return x;
        // The mask has x's shape as the builder knows it (sizes, batch, sequence): the trainer sizes it from that,
        // and gradients know the shapes match.
        if (g.Shape(x) is not { } shape || !shape.All(d => d.IsKnown))
            throw new InvalidOperationException($"Dropout needs the shape of its input '{x}'.");
        var name = $"dropout_mask.{w.DropoutMasks.Count}";
        g.Input(name, ElementType.Bool, shape);
        w.DropoutMasks.Add(new DropoutMask(name, shape, probability));
        // As torch: the kept elements times the float32 of 1/(1 − p).
        return g.Op("Where", [name, g.Mul(x, g.Scalar((float)(1 / (1 - probability)))), g.Scalar(0f)]);
    }

    /// <summary>
    /// The rows of x a layer's queries need: all of them, except in the last layer of a graph without hidden-state
    /// outputs, where the first token's ([batch, 1, hidden]) is all the classification heads read, so that layer
    /// computes it alone (see <see cref="GraphOptions.HiddenStates"/>).
    /// </summary>
    public static string QueryRows(GraphBuilder g, string x, int layer, ModelConfig config, GraphOptions options) =>
        layer == config.NumHiddenLayers - 1 && !options.HiddenStates ? g.Gather(x, g.Ints(0), axis: 1) : x;

    /// <summary>
    /// Self-attention of <paramref name="query"/> over x through the query, key and value linears (HF names, in that
    /// order) with <paramref name="heads"/> heads, masked by <see cref="AttentionMask"/>; the query is x itself, or the
    /// rows of it that are needed (<see cref="QueryRows"/>). Fused, with the query x: ONNX Runtime's Attention, or
    /// QAttention in int8 (the three projections as one merged product, then scores, mask, softmax and context in one
    /// kernel; padding masked with float32's minimum, as HF does); otherwise the standard operators of <see cref="Attention"/>.
    /// </summary>
    public static string SelfAttention(GraphBuilder g, ModelWeights w, string query, string x, string[] qkv, string mask, long hidden, int heads,
        bool scaleQueryFirst, double attentionDropout, GraphOptions options)
    {
        if (w.Fused && query == x)
        {
            var merged = $"{qkv[0][..qkv[0].LastIndexOf('.')]}.qkv";
            var attributes = new Dictionary<string, AttributeValue> { ["num_heads"] = heads, ["mask_filter_value"] = float.MinValue };
            if (w.Quantization == Quantization.Int8)
            {
                // Inputs: x as uint8, the int8 weight, bias, x's scale, the weight's per-column scales, mask, x's zero point.
                var (quantized, scales, qkvBias) = w.MergedQuantizedLinear(g, merged, qkv, hidden, hidden);
                var xq = g.OpOutputs("DynamicQuantizeLinear", [x], 3);
                return g.Op("QAttention", [xq[0], quantized, qkvBias, xq[1], scales, mask, xq[2]], attributes, "com.microsoft");
            }
            var (weight, bias) = w.MergedLinear(g, merged, qkv, hidden, hidden);
            return g.Op("Attention", [x, weight, bias, mask], attributes, "com.microsoft");
        }
        var q = w.Linear(g, query, qkv[0], hidden, hidden);
        var k = w.Linear(g, x, qkv[1], hidden, hidden);
        var v = w.Linear(g, x, qkv[2], hidden, hidden);
        // The fused graphs' mask is the 0/1 int32 mask the fused operator takes.
        return Attention(g, w, q, k, v, w.Fused ? AttentionBias(g, mask) : mask, heads, (int)hidden / heads, scaleQueryFirst, attentionDropout, options);
    }

    /// <summary>Multi-head scaled dot-product attention over already projected q, k, v ([batch, seq, hidden]).</summary>
    private static string Attention(GraphBuilder g, ModelWeights w, string q, string k, string v, string bias, int heads, int headSize, bool scaleQueryFirst,
        double attentionDropout, GraphOptions options)
    {
        var scale = g.Scalar(MathF.Sqrt(headSize));
        if (scaleQueryFirst)
            q = g.Div(q, scale); // DistilBERT divides the queries; BERT divides the scores
        var qh = g.Transpose(g.Reshape(q, 0, 0, heads, headSize), 0, 2, 1, 3);
        var kh = g.Transpose(g.Reshape(k, 0, 0, heads, headSize), 0, 2, 3, 1);
        var vh = g.Transpose(g.Reshape(v, 0, 0, heads, headSize), 0, 2, 1, 3);
        var scores = g.MatMul(qh, kh);
        if (!scaleQueryFirst)
            scores = g.Div(scores, scale);
        var probs = g.Softmax(g.Add(scores, bias));
        probs = Dropout(g, w, probs, attentionDropout, options);
        var context = g.Transpose(g.MatMul(probs, vh), 0, 2, 1, 3);
        return g.Reshape(context, 0, 0, heads * headSize);
    }

    /// <summary>The config's activation (<c>hidden_act</c> / DistilBERT's <c>activation</c>).</summary>
    public static string Activation(GraphBuilder g, string x, string name, GraphOptions options) => name switch
    {
        // Training graphs: exact GELU as ONNX Runtime's Gelu, whose gradient needs only x, where the decomposition below
        // keeps three more activation-sized values for the backward pass (a quarter of BERT's per-layer memory).
        "gelu" when options.Training => g.Op("Gelu", [x], domain: "com.microsoft"),
        // Exact GELU, (x · (erf(x / √2) + 1)) · ½, in the node order torch exports, which ORT fuses into one Gelu.
        "gelu" => g.Mul(g.Mul(x, g.Add(g.Erf(g.Div(x, g.Scalar(MathF.Sqrt(2f)))), g.Scalar(1f))), g.Scalar(0.5f)),
        // Tanh approximation: ½x(1 + tanh(√(2/π)(x + 0.044715x³))).
        "gelu_new" or "gelu_pytorch_tanh" or "gelu_fast" => g.Mul(g.Mul(x, g.Scalar(0.5f)), g.Add(g.Scalar(1f), g.Tanh(
            g.Mul(g.Scalar(MathF.Sqrt(2f / MathF.PI)), g.Add(x, g.Mul(g.Scalar(0.044715f), g.Mul(x, g.Mul(x, x)))))))),
        "quick_gelu" => g.Mul(x, g.Sigmoid(g.Mul(x, g.Scalar(1.702f)))),
        "relu" => g.Relu(x),
        "silu" or "swish" => g.Mul(x, g.Sigmoid(x)),
        "tanh" => g.Tanh(x),
        _ => throw new UnsupportedModelException(
            $"Activation \"{name}\" is not supported (gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, quick_gelu, relu, silu, swish, tanh are)."),
    };

    /// <summary>Rejects configs that describe something the graphs do not implement.</summary>
    public static void CheckSupported(ModelConfig config)
    {
        if (config.PositionEmbeddingType != "absolute")
            throw new UnsupportedModelException($"{config.Source}: position_embedding_type \"{config.PositionEmbeddingType}\" is not supported; only \"absolute\" is.");
    }
}
