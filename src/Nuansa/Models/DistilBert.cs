using System.Text.Json.Nodes;
using Nuansa.Checkpoints;
using Nuansa.Graphs;
using Nuansa.Training;

namespace Nuansa.Models;

/// <summary>
/// DistilBERT (transformers' modeling_distilbert.py, <c>DistilBertForSequenceClassification</c>): word + position
/// embeddings (no token types), N × (attention with the query scaled first, sa_layer_norm, feed-forward,
/// output_layer_norm), then pre_classifier → ReLU → classifier on the first token. LayerNorm epsilon is fixed at 1e-12.
/// </summary>
internal sealed class DistilBert : Architecture
{
    public override IReadOnlyList<string> ModelTypes { get; } = ["distilbert"];
    public override string BasePrefix => "distilbert.";
    public override bool UsesTokenTypes => false;

    public override string ClassName(string modelType) => "DistilBertForSequenceClassification";

    // DistilBERT's own field names, mapped to the common properties as HF's attribute_map does.
    public override void ReadConfig(ModelConfig c, ModelConfig.FieldReader reader)
    {
        c.VocabSize = reader.Int("vocab_size", 30522);
        c.MaxPositionEmbeddings = reader.Int("max_position_embeddings", 512);
        c.SinusoidalPositionEmbeddings = reader.Bool("sinusoidal_pos_embds", false);
        c.NumHiddenLayers = reader.Int("n_layers", 6);
        c.NumAttentionHeads = reader.Int("n_heads", 12);
        c.HiddenSize = reader.Int("dim", 768);
        c.IntermediateSize = reader.Int("hidden_dim", 4 * 768);
        c.HiddenDropoutProb = reader.Probability("dropout", 0.1);
        c.AttentionProbsDropoutProb = reader.Probability("attention_dropout", 0.1);
        c.HiddenAct = reader.String("activation", "gelu")!;
        c.InitializerRange = reader.Double("initializer_range", 0.02);
        c.SeqClassifDropout = reader.Probability("seq_classif_dropout", 0.2);
        c.LayerNormEps = 1e-12; // fixed in DistilBERT's code, not configurable
        c.TypeVocabSize = 0;
        c.PadTokenId = reader.NullableInt("pad_token_id", 0);
        c.PositionEmbeddingType = "absolute";
    }

    public override JsonObject NewConfig(NewModelOptions o, int vocabSize, int padTokenId) => new()
    {
        ["architectures"] = new JsonArray("DistilBertForSequenceClassification"), ["model_type"] = "distilbert",
        ["vocab_size"] = vocabSize, ["dim"] = o.HiddenSize ?? 768, ["n_layers"] = o.NumHiddenLayers ?? 6, ["n_heads"] = o.NumAttentionHeads ?? 12,
        ["hidden_dim"] = o.IntermediateSize ?? 4 * (o.HiddenSize ?? 768), ["activation"] = "gelu", ["dropout"] = 0.1, ["attention_dropout"] = 0.1,
        ["max_position_embeddings"] = o.MaxPositionEmbeddings ?? 512, ["initializer_range"] = 0.02,
        ["seq_classif_dropout"] = 0.2, ["qa_dropout"] = 0.1, ["sinusoidal_pos_embds"] = false, ["pad_token_id"] = padTokenId,
    };

    public override (string Vocabulary, string? Merges, JsonObject TokenizerConfig) NewTokenizer(NewModelOptions o, bool cased) =>
        ("vocab.txt", null, Bert.WordPieceTokenizer("DistilBertTokenizer", o.MaxPositionEmbeddings ?? 512, cased));

    public override string Forward(GraphBuilder g, ModelWeights w, ModelConfig config, GraphOptions options)
    {
        Transformer.CheckSupported(config);
        if (config.HiddenAct is not ("gelu" or "relu"))
            throw new UnsupportedModelException($"{config.Source}: DistilBERT activation \"{config.HiddenAct}\" is not supported (gelu, relu).");
        var inputIds = g.Input("input_ids", ElementType.Int64, "batch", "sequence");
        var attentionMask = g.Input("attention_mask", ElementType.Int64, "batch", "sequence");
        long h = config.HiddenSize, ff = config.IntermediateSize;
        var heads = config.NumAttentionHeads;
        const double eps = 1e-12;

        var word = w.Embedding(g, "distilbert.embeddings.word_embeddings", config.VocabSize, h, inputIds, config.PadTokenId);
        var length = g.Op("Shape", [inputIds], new() { ["start"] = 1, ["end"] = 2 });
        var positions = g.Op("Slice", [w.Table(g, "distilbert.embeddings.position_embeddings.weight", config.MaxPositionEmbeddings, h), g.Ints(0), length, g.Ints(0)]);
        var x = Transformer.Dropout(g, w, w.LayerNorm(g, g.Add(word, positions), "distilbert.embeddings.LayerNorm", h, eps), config.HiddenDropoutProb, options);
        if (options.HiddenStates)
            g.Output(x, "hidden_states.0", ElementType.Float, "batch", "sequence", h);

        var mask = Transformer.AttentionMask(g, w, attentionMask);
        for (var i = 0; i < config.NumHiddenLayers; i++)
        {
            var layer = $"distilbert.transformer.layer.{i}";
            string[] qkv = [$"{layer}.attention.q_lin", $"{layer}.attention.k_lin", $"{layer}.attention.v_lin"];
            var query = Transformer.QueryRows(g, x, i, config, options);
            var context = Transformer.SelfAttention(g, w, query, x, qkv, mask, h, heads, scaleQueryFirst: true, config.AttentionProbsDropoutProb, options);
            // DistilBERT has no dropout after the attention's output projection.
            x = w.AddAndNorm(g, context, query, $"{layer}.attention.out_lin", h, h, $"{layer}.sa_layer_norm", eps, value => value);

            var hidden = Transformer.Activation(g, w.Linear(g, x, $"{layer}.ffn.lin1", ff, h), config.HiddenAct, options);
            x = w.AddAndNorm(g, hidden, x, $"{layer}.ffn.lin2", h, ff, $"{layer}.output_layer_norm", eps,
                value => Transformer.Dropout(g, w, value, config.HiddenDropoutProb, options));
            if (options.HiddenStates)
                g.Output(x, $"hidden_states.{i + 1}", ElementType.Float, "batch", "sequence", h);
        }

        var first = g.Gather(x, g.Initializer(TensorData.Int64("cls_index", [], [0])), axis: 1);
        var pooled = Transformer.Dropout(g, w, g.Relu(w.Linear(g, first, "pre_classifier", h, h)), config.SeqClassifDropout, options);
        return w.Linear(g, pooled, "classifier", config.NumLabels, h);
    }
}
