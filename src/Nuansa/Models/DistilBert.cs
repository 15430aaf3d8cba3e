using Nuansa.Checkpoints;
using Nuansa.Graphs;

namespace Nuansa.Models;

/// <summary>
/// <c>DistilBertForSequenceClassification</c> (transformers' modeling_distilbert.py): word + position embeddings
/// (no token types), N × (attention with the query scaled first, sa_layer_norm, feed-forward, output_layer_norm),
/// then pre_classifier → ReLU → classifier on the first token. LayerNorm epsilon is fixed at 1e-12.
/// </summary>
internal static class DistilBert
{
    /// <summary>Adds the inputs and the forward pass to <paramref name="g"/>; returns the logits.</summary>
    public static string Forward(GraphBuilder g, ModelWeights w, ModelConfig config, GraphOptions options)
    {
        Transformer.CheckSupported(config);
        var inputIds = g.Input("input_ids", ElementType.Int64, "batch", "sequence");
        var attentionMask = g.Input("attention_mask", ElementType.Int64, "batch", "sequence");
        long h = config.HiddenSize, ff = config.IntermediateSize;
        var heads = config.NumAttentionHeads;
        const double eps = 1e-12;

        var word = w.Embedding(g, "distilbert.embeddings.word_embeddings", config.VocabSize, h, inputIds);
        var length = g.Op("Shape", [inputIds], new() { ["start"] = 1, ["end"] = 2 });
        var positions = g.Op("Slice", [w.Constant(g, "distilbert.embeddings.position_embeddings.weight", config.MaxPositionEmbeddings, h), g.Ints(0), length, g.Ints(0)]);
        var x = Transformer.Dropout(g, w.LayerNorm(g, g.Add(word, positions), "distilbert.embeddings.LayerNorm", h, eps), config.HiddenDropoutProb, options);
        if (options.HiddenStates)
            g.Output(x, "hidden_states.0", ElementType.Float, "batch", "sequence", h);

        var bias = Transformer.AttentionBias(g, attentionMask);
        for (var i = 0; i < config.NumHiddenLayers; i++)
        {
            var layer = $"distilbert.transformer.layer.{i}";
            var q = w.Linear(g, x, $"{layer}.attention.q_lin", h, h);
            var k = w.Linear(g, x, $"{layer}.attention.k_lin", h, h);
            var v = w.Linear(g, x, $"{layer}.attention.v_lin", h, h);
            var context = Transformer.Attention(g, q, k, v, bias, heads, (int)h / heads, scaleQueryFirst: true, config.AttentionProbsDropoutProb, options);
            var attention = w.Linear(g, context, $"{layer}.attention.out_lin", h, h);
            x = w.LayerNorm(g, g.Add(attention, x), $"{layer}.sa_layer_norm", h, eps);

            var hidden = Transformer.Activation(g, w.Linear(g, x, $"{layer}.ffn.lin1", ff, h), config.HiddenAct);
            var output = Transformer.Dropout(g, w.Linear(g, hidden, $"{layer}.ffn.lin2", h, ff), config.HiddenDropoutProb, options);
            x = w.LayerNorm(g, g.Add(output, x), $"{layer}.output_layer_norm", h, eps);
            if (options.HiddenStates)
                g.Output(x, $"hidden_states.{i + 1}", ElementType.Float, "batch", "sequence", h);
        }

        var first = g.Gather(x, g.Initializer(TensorData.Int64("cls_index", [], [0])), axis: 1);
        var pooled = Transformer.Dropout(g, g.Relu(w.Linear(g, first, "pre_classifier", h, h)), config.SeqClassifDropout, options);
        return w.Linear(g, pooled, "classifier", config.NumLabels, h);
    }
}
