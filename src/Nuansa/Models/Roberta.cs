using Nuansa.Checkpoints;
using Nuansa.Graphs;

namespace Nuansa.Models;

/// <summary>
/// <c>RobertaForSequenceClassification</c> and <c>XLMRobertaForSequenceClassification</c> (transformers'
/// modeling_roberta.py): BERT's encoder with position ids counted from <c>padding_idx + 1</c> over real tokens,
/// token type 0 throughout, no pooler, and a head of dense → tanh → out_proj on the first token (&lt;s&gt;).
/// </summary>
internal static class Roberta
{
    /// <summary>Adds the inputs and the forward pass to <paramref name="g"/>; returns the logits.</summary>
    public static string Forward(GraphBuilder g, ModelWeights w, ModelConfig config, GraphOptions options)
    {
        Transformer.CheckSupported(config);
        var inputIds = g.Input("input_ids", ElementType.Int64, "batch", "sequence");
        var attentionMask = g.Input("attention_mask", ElementType.Int64, "batch", "sequence");
        long h = config.HiddenSize;
        var padding = config.PadTokenId ?? 1;

        // position_ids = cumsum(ids != pad) * (ids != pad) + padding_idx, as HF's create_position_ids_from_input_ids.
        var notPad = g.Cast(g.Op("Not", [g.Op("Equal", [inputIds, g.Initializer(TensorData.Int64("padding_idx", [], [padding]))])]), ElementType.Int64);
        var positionIds = g.Add(g.Mul(g.Op("CumSum", [notPad, g.Initializer(TensorData.Int64("sequence_axis", [], [1]))]), notPad),
            g.Initializer(TensorData.Int64("padding_offset", [], [padding])));

        var word = w.Embedding(g, "roberta.embeddings.word_embeddings", config.VocabSize, h, inputIds);
        var positions = g.Gather(w.Constant(g, "roberta.embeddings.position_embeddings.weight", config.MaxPositionEmbeddings, h), positionIds);
        // Every token has type 0: add row 0 of the token type table.
        var typeTable = w.Constant(g, "roberta.embeddings.token_type_embeddings.weight", config.TypeVocabSize, h);
        var type0 = g.Gather(typeTable, g.Initializer(TensorData.Int64("type_zero", [], [0])));
        var x = w.LayerNorm(g, g.Add(g.Add(word, type0), positions), "roberta.embeddings.LayerNorm", h, config.LayerNormEps);
        x = Transformer.Dropout(g, x, config.HiddenDropoutProb, options);

        x = Bert.Encoder(g, w, "roberta.encoder", config, x, Transformer.AttentionBias(g, attentionMask), options);

        var first = g.Gather(x, g.Initializer(TensorData.Int64("cls_index", [], [0])), axis: 1);
        var classifierDropout = config.ClassifierDropout ?? config.HiddenDropoutProb;
        var dense = g.Tanh(w.Linear(g, Transformer.Dropout(g, first, classifierDropout, options), "classifier.dense", h, h));
        return w.Linear(g, Transformer.Dropout(g, dense, classifierDropout, options), "classifier.out_proj", config.NumLabels, h);
    }
}
