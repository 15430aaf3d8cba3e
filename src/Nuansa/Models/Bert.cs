using Nuansa.Checkpoints;
using Nuansa.Graphs;

namespace Nuansa.Models;

/// <summary>
/// <c>BertForSequenceClassification</c> as a graph, with HF's weight names (transformers' modeling_bert.py):
/// embeddings (word + position + token type, LayerNorm) → N × (self-attention, add &amp; norm, feed-forward,
/// add &amp; norm) → pooler (tanh of a dense layer on [CLS]) → classifier. Dropout is off at inference.
/// </summary>
internal static class Bert
{
    /// <summary>Adds the inputs and the forward pass to <paramref name="g"/>; returns the logits.</summary>
    public static string Forward(GraphBuilder g, ModelWeights w, ModelConfig config, GraphOptions options)
    {
        Transformer.CheckSupported(config);
        var inputIds = g.Input("input_ids", ElementType.Int64, "batch", "sequence");
        var attentionMask = g.Input("attention_mask", ElementType.Int64, "batch", "sequence");
        var tokenTypeIds = g.Input("token_type_ids", ElementType.Int64, "batch", "sequence");
        long h = config.HiddenSize;

        // Embeddings: positions 0..L-1 are the first L rows of the position table.
        var word = w.Embedding(g, "bert.embeddings.word_embeddings", config.VocabSize, h, inputIds);
        var length = g.Op("Shape", [inputIds], new() { ["start"] = 1, ["end"] = 2 });
        var positions = g.Op("Slice", [w.Constant(g, "bert.embeddings.position_embeddings.weight", config.MaxPositionEmbeddings, h), g.Ints(0), length, g.Ints(0)]);
        var types = g.Gather(w.Constant(g, "bert.embeddings.token_type_embeddings.weight", config.TypeVocabSize, h), tokenTypeIds);
        var x = w.LayerNorm(g, g.Add(g.Add(word, types), positions), "bert.embeddings.LayerNorm", h, config.LayerNormEps);
        x = Transformer.Dropout(g, x, config.HiddenDropoutProb, options);

        x = Encoder(g, w, "bert.encoder", config, x, Transformer.AttentionBias(g, attentionMask), options);

        var first = g.Gather(x, g.Initializer(TensorData.Int64("cls_index", [], [0])), axis: 1);
        var pooled = g.Tanh(w.Linear(g, first, "bert.pooler.dense", h, h));
        pooled = Transformer.Dropout(g, pooled, config.ClassifierDropout ?? config.HiddenDropoutProb, options);
        return w.Linear(g, pooled, "classifier", config.NumLabels, h);
    }

    /// <summary>The BERT encoder stack (also RoBERTa's and XLM-R's, which share its weight names under their own prefix).</summary>
    internal static string Encoder(GraphBuilder g, ModelWeights w, string prefix, ModelConfig config, string x, string bias, GraphOptions options)
    {
        long h = config.HiddenSize, ff = config.IntermediateSize;
        var heads = config.NumAttentionHeads;
        if (options.HiddenStates)
            g.Output(x, "hidden_states.0", ElementType.Float, "batch", "sequence", h);
        for (var i = 0; i < config.NumHiddenLayers; i++)
        {
            var layer = $"{prefix}.layer.{i}";
            var q = w.Linear(g, x, $"{layer}.attention.self.query", h, h);
            var k = w.Linear(g, x, $"{layer}.attention.self.key", h, h);
            var v = w.Linear(g, x, $"{layer}.attention.self.value", h, h);
            var context = Transformer.Attention(g, q, k, v, bias, heads, (int)h / heads, scaleQueryFirst: false, config.AttentionProbsDropoutProb, options);
            var attention = Transformer.Dropout(g, w.Linear(g, context, $"{layer}.attention.output.dense", h, h), config.HiddenDropoutProb, options);
            x = w.LayerNorm(g, g.Add(attention, x), $"{layer}.attention.output.LayerNorm", h, config.LayerNormEps);

            var intermediate = Transformer.Activation(g, w.Linear(g, x, $"{layer}.intermediate.dense", ff, h), config.HiddenAct);
            var output = Transformer.Dropout(g, w.Linear(g, intermediate, $"{layer}.output.dense", h, ff), config.HiddenDropoutProb, options);
            x = w.LayerNorm(g, g.Add(output, x), $"{layer}.output.LayerNorm", h, config.LayerNormEps);
            if (options.HiddenStates)
                g.Output(x, $"hidden_states.{i + 1}", ElementType.Float, "batch", "sequence", h);
        }
        return x;
    }
}
