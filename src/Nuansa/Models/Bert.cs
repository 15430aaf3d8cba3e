using System.Text.Json.Nodes;
using Nuansa.Checkpoints;
using Nuansa.Graphs;
using Nuansa.Training;

namespace Nuansa.Models;

/// <summary>
/// BERT (transformers' modeling_bert.py, <c>BertForSequenceClassification</c>): embeddings (word + position + token
/// type, LayerNorm) → N × (self-attention, add &amp; norm, feed-forward, add &amp; norm) → pooler (tanh of a dense
/// layer on [CLS]) → classifier. Dropout is off at inference.
/// </summary>
internal sealed class Bert : Architecture
{
    public override IReadOnlyList<string> ModelTypes { get; } = ["bert"];
    public override string BasePrefix => "bert.";
    public override bool UsesTokenTypes => true;

    public override string ClassName(string modelType) => "BertForSequenceClassification";

    public override void ReadConfig(ModelConfig config, ModelConfig.FieldReader reader) => ReadBertFields(config, reader, 30522, padTokenId: 0);

    /// <summary>The fields BERT, RoBERTa and XLM-R share (RoBERTa differs only in defaults).</summary>
    internal static void ReadBertFields(ModelConfig c, ModelConfig.FieldReader reader, int vocabSize, int padTokenId, int? bosTokenId = null, int? eosTokenId = null)
    {
        c.VocabSize = reader.Int("vocab_size", vocabSize);
        c.HiddenSize = reader.Int("hidden_size", 768);
        c.NumHiddenLayers = reader.Int("num_hidden_layers", 12);
        c.NumAttentionHeads = reader.Int("num_attention_heads", 12);
        c.IntermediateSize = reader.Int("intermediate_size", 3072);
        c.HiddenAct = reader.String("hidden_act", "gelu")!;
        c.HiddenDropoutProb = reader.Probability("hidden_dropout_prob", 0.1);
        c.AttentionProbsDropoutProb = reader.Probability("attention_probs_dropout_prob", 0.1);
        c.MaxPositionEmbeddings = reader.Int("max_position_embeddings", 512);
        c.TypeVocabSize = reader.Int("type_vocab_size", 2);
        c.InitializerRange = reader.Double("initializer_range", 0.02);
        c.LayerNormEps = reader.Double("layer_norm_eps", 1e-12);
        c.PadTokenId = reader.NullableInt("pad_token_id", padTokenId);
        c.BosTokenId = reader.NullableInt("bos_token_id", bosTokenId);
        c.EosTokenId = reader.NullableInt("eos_token_id", eosTokenId);
        c.PositionEmbeddingType = reader.String("position_embedding_type", "absolute")!;
        c.ClassifierDropout = reader.NullableProbability("classifier_dropout");
    }

    public override JsonObject NewConfig(NewModelOptions o, int vocabSize, int padTokenId) => new()
    {
        ["architectures"] = new JsonArray("BertForSequenceClassification"), ["model_type"] = "bert",
        ["vocab_size"] = vocabSize, ["hidden_size"] = o.HiddenSize ?? 768, ["num_hidden_layers"] = o.NumHiddenLayers ?? 12,
        ["num_attention_heads"] = o.NumAttentionHeads ?? 12, ["intermediate_size"] = o.IntermediateSize ?? 4 * (o.HiddenSize ?? 768), ["hidden_act"] = "gelu",
        ["hidden_dropout_prob"] = 0.1, ["attention_probs_dropout_prob"] = 0.1,
        ["max_position_embeddings"] = o.MaxPositionEmbeddings ?? 512, ["type_vocab_size"] = 2,
        ["initializer_range"] = 0.02, ["layer_norm_eps"] = 1e-12, ["pad_token_id"] = padTokenId,
        ["position_embedding_type"] = "absolute", ["classifier_dropout"] = null,
    };

    public override (string Vocabulary, string? Merges, JsonObject TokenizerConfig) NewTokenizer(NewModelOptions o, bool cased) =>
        ("vocab.txt", null, WordPieceTokenizer("BertTokenizer", o.MaxPositionEmbeddings ?? 512, cased));

    /// <summary>tokenizer_config.json of a WordPiece tokenizer (BERT's and DistilBERT's).</summary>
    internal static JsonObject WordPieceTokenizer(string tokenizerClass, int maxLength, bool cased) => new()
    {
        ["tokenizer_class"] = tokenizerClass,
        ["do_lower_case"] = !cased, ["model_max_length"] = maxLength, ["unk_token"] = "[UNK]", ["sep_token"] = "[SEP]",
        ["pad_token"] = "[PAD]", ["cls_token"] = "[CLS]", ["mask_token"] = "[MASK]", ["tokenize_chinese_chars"] = true, ["strip_accents"] = null,
    };

    public override string Forward(GraphBuilder g, ModelWeights w, ModelConfig config, GraphOptions options)
    {
        Transformer.CheckSupported(config);
        var inputIds = g.Input("input_ids", ElementType.Int64, "batch", "sequence");
        var attentionMask = g.Input("attention_mask", ElementType.Int64, "batch", "sequence");
        var tokenTypeIds = g.Input("token_type_ids", ElementType.Int64, "batch", "sequence");
        long h = config.HiddenSize;

        // Embeddings: positions 0..L-1 are the first L rows of the position table.
        var word = w.Embedding(g, "bert.embeddings.word_embeddings", config.VocabSize, h, inputIds, config.PadTokenId);
        var length = g.Op("Shape", [inputIds], new() { ["start"] = 1, ["end"] = 2 });
        var positions = g.Op("Slice", [w.Table(g, "bert.embeddings.position_embeddings.weight", config.MaxPositionEmbeddings, h), g.Ints(0), length, g.Ints(0)]);
        var types = g.Gather(w.Table(g, "bert.embeddings.token_type_embeddings.weight", config.TypeVocabSize, h), tokenTypeIds);
        var x = w.LayerNorm(g, g.Add(g.Add(word, types), positions), "bert.embeddings.LayerNorm", h, config.LayerNormEps);
        x = Transformer.Dropout(g, w, x, config.HiddenDropoutProb, options);

        x = Encoder(g, w, "bert.encoder", config, x, Transformer.AttentionMask(g, w, attentionMask), options);

        var first = g.Gather(x, g.Initializer(TensorData.Int64("cls_index", [], [0])), axis: 1);
        var pooled = g.Tanh(w.Linear(g, first, "bert.pooler.dense", h, h));
        pooled = Transformer.Dropout(g, w, pooled, config.ClassifierDropout ?? config.HiddenDropoutProb, options);
        return w.Linear(g, pooled, "classifier", config.NumLabels, h);
    }

    /// <summary>The BERT encoder stack (also RoBERTa's and XLM-R's, which share its weight names under their own prefix).</summary>
    internal static string Encoder(GraphBuilder g, ModelWeights w, string prefix, ModelConfig config, string x, string mask, GraphOptions options)
    {
        long h = config.HiddenSize, ff = config.IntermediateSize;
        var heads = config.NumAttentionHeads;
        if (options.HiddenStates)
            g.Output(x, "hidden_states.0", ElementType.Float, "batch", "sequence", h);
        for (var i = 0; i < config.NumHiddenLayers; i++)
        {
            var layer = $"{prefix}.layer.{i}";
            string Dropout(string value) => Transformer.Dropout(g, w, value, config.HiddenDropoutProb, options);
            string[] qkv = [$"{layer}.attention.self.query", $"{layer}.attention.self.key", $"{layer}.attention.self.value"];
            var query = Transformer.QueryRows(g, x, i, config, options);
            var context = Transformer.SelfAttention(g, w, query, x, qkv, mask, h, heads, scaleQueryFirst: false, config.AttentionProbsDropoutProb, options);
            x = w.AddAndNorm(g, context, query, $"{layer}.attention.output.dense", h, h, $"{layer}.attention.output.LayerNorm", config.LayerNormEps, Dropout);

            var intermediate = Transformer.Activation(g, w.Linear(g, x, $"{layer}.intermediate.dense", ff, h), config.HiddenAct, options);
            x = w.AddAndNorm(g, intermediate, x, $"{layer}.output.dense", h, ff, $"{layer}.output.LayerNorm", config.LayerNormEps, Dropout);
            if (options.HiddenStates)
                g.Output(x, $"hidden_states.{i + 1}", ElementType.Float, "batch", "sequence", h);
        }
        return x;
    }
}
