using System.Text.Json.Nodes;
using Nuansa.Checkpoints;
using Nuansa.Graphs;
using Nuansa.Training;

namespace Nuansa.Models;

/// <summary>
/// RoBERTa and XLM-RoBERTa (transformers' modeling_roberta.py, <c>RobertaForSequenceClassification</c>,
/// <c>XLMRobertaForSequenceClassification</c>): BERT's encoder with position ids counted from <c>padding_idx + 1</c>
/// over real tokens, token type 0 throughout, no pooler, and a head of dense → tanh → out_proj on the first token (&lt;s&gt;).
/// </summary>
internal sealed class Roberta : Architecture
{
    public override IReadOnlyList<string> ModelTypes { get; } = ["roberta", "xlm-roberta"];
    public override string BasePrefix => "roberta.";
    public override bool UsesTokenTypes => false;

    public override string ClassName(string modelType) => modelType == "xlm-roberta" ? "XLMRobertaForSequenceClassification" : "RobertaForSequenceClassification";

    /// <summary>Positions start after <c>padding_idx</c>: 514 rows take 512 tokens.</summary>
    public override int PositionOffset(ModelConfig config) => (config.PadTokenId ?? 1) + 1;

    public override void ReadConfig(ModelConfig config, ModelConfig.FieldReader reader) =>
        Bert.ReadBertFields(config, reader, config.ModelType == "roberta" ? 50265 : 30522, padTokenId: 1, bosTokenId: 0, eosTokenId: 2);

    public override JsonObject NewConfig(NewModelOptions o, int vocabSize, int padTokenId) => new()
    {
        ["architectures"] = new JsonArray("RobertaForSequenceClassification"), ["model_type"] = "roberta",
        ["vocab_size"] = vocabSize, ["hidden_size"] = o.HiddenSize ?? 768, ["num_hidden_layers"] = o.NumHiddenLayers ?? 12,
        ["num_attention_heads"] = o.NumAttentionHeads ?? 12, ["intermediate_size"] = o.IntermediateSize ?? 4 * (o.HiddenSize ?? 768), ["hidden_act"] = "gelu",
        ["hidden_dropout_prob"] = 0.1, ["attention_probs_dropout_prob"] = 0.1,
        ["max_position_embeddings"] = o.MaxPositionEmbeddings ?? 514, ["type_vocab_size"] = 1,
        ["initializer_range"] = 0.02, ["layer_norm_eps"] = 1e-5, ["pad_token_id"] = padTokenId, ["bos_token_id"] = 0, ["eos_token_id"] = 2,
        ["position_embedding_type"] = "absolute", ["classifier_dropout"] = null,
    };

    public override (string Vocabulary, string? Merges, JsonObject TokenizerConfig) NewTokenizer(NewModelOptions o, bool cased) =>
        ("vocab.json", "merges.txt", new JsonObject
        {
            ["tokenizer_class"] = "RobertaTokenizer", ["model_max_length"] = (o.MaxPositionEmbeddings ?? 514) - 2, ["add_prefix_space"] = false, ["bos_token"] = "<s>",
            ["eos_token"] = "</s>", ["sep_token"] = "</s>", ["cls_token"] = "<s>", ["unk_token"] = "<unk>", ["pad_token"] = "<pad>", ["mask_token"] = "<mask>",
        });

    public override string Forward(GraphBuilder g, ModelWeights w, ModelConfig config, GraphOptions options)
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

        var word = w.Embedding(g, "roberta.embeddings.word_embeddings", config.VocabSize, h, inputIds, config.PadTokenId);
        var positions = g.Gather(w.Table(g, "roberta.embeddings.position_embeddings.weight", config.MaxPositionEmbeddings, h, config.PadTokenId), positionIds);
        // Every token has type 0: add row 0 of the token type table.
        var typeTable = w.Table(g, "roberta.embeddings.token_type_embeddings.weight", config.TypeVocabSize, h);
        var type0 = g.Gather(typeTable, g.Initializer(TensorData.Int64("type_zero", [], [0])));
        var x = w.LayerNorm(g, g.Add(g.Add(word, type0), positions), "roberta.embeddings.LayerNorm", h, config.LayerNormEps);
        x = Transformer.Dropout(g, w, x, config.HiddenDropoutProb, options);

        x = Bert.Encoder(g, w, "roberta.encoder", config, x, Transformer.AttentionMask(g, w, attentionMask), options);

        var first = g.Gather(x, g.Initializer(TensorData.Int64("cls_index", [], [0])), axis: 1);
        var classifierDropout = config.ClassifierDropout ?? config.HiddenDropoutProb;
        var dense = g.Tanh(w.Linear(g, Transformer.Dropout(g, w, first, classifierDropout, options), "classifier.dense", h, h));
        return w.Linear(g, Transformer.Dropout(g, w, dense, classifierDropout, options), "classifier.out_proj", config.NumLabels, h);
    }
}
