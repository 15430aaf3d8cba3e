using System.Text.Json.Nodes;
using Nuansa.Checkpoints;
using Nuansa.Models;

namespace Nuansa.Training;

/// <summary>Sizes and labels of a new, randomly initialized model.</summary>
public sealed record NewModelOptions
{
    /// <summary><c>bert</c>, <c>distilbert</c> or <c>roberta</c>.</summary>
    public required string ModelType { get; init; }
    public required IReadOnlyList<string> Labels { get; init; }

    /// <summary>Sizes default to the base model's (bert-base-uncased, distilbert-base-uncased, roberta-base).</summary>
    public int? HiddenSize { get; init; }
    public int? NumHiddenLayers { get; init; }
    public int? NumAttentionHeads { get; init; }
    public int? IntermediateSize { get; init; }
    public int? MaxPositionEmbeddings { get; init; }
    public string? ProblemType { get; init; }
    public int Seed { get; init; } = 42;
}

/// <summary>
/// Creates a Hugging Face checkpoint with HF's initialization (<c>_init_weights</c>): normal(0, initializer_range)
/// for linear and embedding weights, zero biases, LayerNorm weight 1 and bias 0, and a zero row at each
/// embedding's <c>padding_idx</c>. The random numbers come from a seeded generator (not PyTorch's).
/// </summary>
public static class ModelInitializer
{
    /// <summary>The config.json of a new model, in HF's field names for its architecture.</summary>
    public static ModelConfig CreateConfig(NewModelOptions o, int vocabSize, int padTokenId)
    {
        if (o.Labels.Count == 0 || o.Labels.Distinct().Count() != o.Labels.Count || o.Labels.Any(string.IsNullOrWhiteSpace))
            throw new NuansaException("Labels must be one or more distinct, non-empty names.");
        var id2label = new JsonObject();
        var label2id = new JsonObject();
        for (var i = 0; i < o.Labels.Count; i++)
        {
            id2label[i.ToString(System.Globalization.CultureInfo.InvariantCulture)] = o.Labels[i];
            label2id[o.Labels[i]] = i;
        }
        int hidden = o.HiddenSize ?? 768, heads = o.NumAttentionHeads ?? 12, ff = o.IntermediateSize ?? 4 * hidden;
        JsonObject json = o.ModelType switch
        {
            "bert" => new JsonObject
            {
                ["architectures"] = new JsonArray("BertForSequenceClassification"), ["model_type"] = "bert",
                ["vocab_size"] = vocabSize, ["hidden_size"] = hidden, ["num_hidden_layers"] = o.NumHiddenLayers ?? 12,
                ["num_attention_heads"] = heads, ["intermediate_size"] = ff, ["hidden_act"] = "gelu",
                ["hidden_dropout_prob"] = 0.1, ["attention_probs_dropout_prob"] = 0.1,
                ["max_position_embeddings"] = o.MaxPositionEmbeddings ?? 512, ["type_vocab_size"] = 2,
                ["initializer_range"] = 0.02, ["layer_norm_eps"] = 1e-12, ["pad_token_id"] = padTokenId,
                ["position_embedding_type"] = "absolute", ["classifier_dropout"] = null,
            },
            "distilbert" => new JsonObject
            {
                ["architectures"] = new JsonArray("DistilBertForSequenceClassification"), ["model_type"] = "distilbert",
                ["vocab_size"] = vocabSize, ["dim"] = hidden, ["n_layers"] = o.NumHiddenLayers ?? 6, ["n_heads"] = heads,
                ["hidden_dim"] = ff, ["activation"] = "gelu", ["dropout"] = 0.1, ["attention_dropout"] = 0.1,
                ["max_position_embeddings"] = o.MaxPositionEmbeddings ?? 512, ["initializer_range"] = 0.02,
                ["seq_classif_dropout"] = 0.2, ["qa_dropout"] = 0.1, ["sinusoidal_pos_embds"] = false, ["pad_token_id"] = padTokenId,
            },
            "roberta" => new JsonObject
            {
                ["architectures"] = new JsonArray("RobertaForSequenceClassification"), ["model_type"] = "roberta",
                ["vocab_size"] = vocabSize, ["hidden_size"] = hidden, ["num_hidden_layers"] = o.NumHiddenLayers ?? 12,
                ["num_attention_heads"] = heads, ["intermediate_size"] = ff, ["hidden_act"] = "gelu",
                ["hidden_dropout_prob"] = 0.1, ["attention_probs_dropout_prob"] = 0.1,
                ["max_position_embeddings"] = o.MaxPositionEmbeddings ?? 514, ["type_vocab_size"] = 1,
                ["initializer_range"] = 0.02, ["layer_norm_eps"] = 1e-5, ["pad_token_id"] = padTokenId, ["bos_token_id"] = 0, ["eos_token_id"] = 2,
                ["position_embedding_type"] = "absolute", ["classifier_dropout"] = null,
            },
            _ => throw new UnsupportedModelException($"Model type \"{o.ModelType}\" cannot be created; use bert, distilbert or roberta."),
        };
        json["id2label"] = id2label;
        json["label2id"] = label2id;
        json["torch_dtype"] = "float32";
        if (o.ProblemType != null)
            json["problem_type"] = o.ProblemType;
        return ModelConfig.Parse(json.ToJsonString(), "new config");
    }

    /// <summary>Every parameter of the model, initialized as HF initializes it.</summary>
    public static List<TensorToWrite> CreateWeights(ModelConfig config, int seed)
    {
        var random = new Random(seed);
        return [.. ParameterLayout.For(config).Select(p => TensorToWrite.FromSingle(p.Name, p.Shape, InitialValues(p, config, random)))];
    }

    /// <summary>
    /// HF's <c>_init_weights</c> for one parameter: normal(0, initializer_range) for linear and embedding weights (the
    /// padding row zero), ones for LayerNorm weights, zeros for biases.
    /// </summary>
    internal static float[] InitialValues(Parameter p, ModelConfig config, Random random)
    {
        var values = new float[p.ElementCount];
        switch (p.Kind)
        {
            case ParameterKind.LinearWeight:
            case ParameterKind.Embedding:
                for (var i = 0; i < values.Length; i++)
                    values[i] = (float)(config.InitializerRange * StandardNormal(random));
                if (p.PaddingRow is { } row && row >= 0 && row < p.Shape[0])
                    Array.Clear(values, (int)(row * p.Shape[1]), (int)p.Shape[1]);
                break;
            case ParameterKind.LayerNormWeight:
                Array.Fill(values, 1f);
                break;
        }
        return values;
    }

    // Box–Muller transform of two uniform draws.
    private static double StandardNormal(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());

    /// <summary>
    /// Writes a new checkpoint folder: config.json, model.safetensors and tokenizer files built from a WordPiece
    /// <c>vocab.txt</c> (BERT, DistilBERT) or a byte-level BPE <c>vocab.json</c> + <c>merges.txt</c> (RoBERTa).
    /// The folder appears complete or not at all.
    /// </summary>
    public static ModelConfig CreateCheckpoint(NewModelOptions options, string vocabPath, string? mergesPath, string outputDirectory, bool cased = false)
    {
        AtomicFolder.CheckWritable(outputDirectory);
        if (!File.Exists(vocabPath))
            throw new NuansaException($"{vocabPath}: vocabulary file not found.");
        var wordPiece = options.ModelType is "bert" or "distilbert";
        if (!wordPiece && (mergesPath == null || !File.Exists(mergesPath)))
            throw new NuansaException("A RoBERTa model needs --merges (merges.txt) beside its vocab.json.");

        ModelConfig? config = null;
        AtomicFolder.Write(outputDirectory, staging =>
        {
            File.Copy(vocabPath, Path.Combine(staging, wordPiece ? "vocab.txt" : "vocab.json"));
            if (!wordPiece)
                File.Copy(mergesPath!, Path.Combine(staging, "merges.txt"));
            var maxLength = (options.MaxPositionEmbeddings ?? (wordPiece ? 512 : 514)) - (wordPiece ? 0 : 2);
            var tokenizerConfig = wordPiece
                ? new JsonObject
                {
                    ["tokenizer_class"] = options.ModelType == "bert" ? "BertTokenizer" : "DistilBertTokenizer",
                    ["do_lower_case"] = !cased, ["model_max_length"] = maxLength, ["unk_token"] = "[UNK]", ["sep_token"] = "[SEP]",
                    ["pad_token"] = "[PAD]", ["cls_token"] = "[CLS]", ["mask_token"] = "[MASK]", ["tokenize_chinese_chars"] = true, ["strip_accents"] = null,
                }
                : new JsonObject
                {
                    ["tokenizer_class"] = "RobertaTokenizer", ["model_max_length"] = maxLength, ["add_prefix_space"] = false, ["bos_token"] = "<s>",
                    ["eos_token"] = "</s>", ["sep_token"] = "</s>", ["cls_token"] = "<s>", ["unk_token"] = "<unk>", ["pad_token"] = "<pad>", ["mask_token"] = "<mask>",
                };
            File.WriteAllText(Path.Combine(staging, "tokenizer_config.json"), tokenizerConfig.ToJsonString(Indented));
            var tokenizer = Tokenization.Tokenizer.Load(staging);
            config = CreateConfig(options, tokenizer.VocabularySize, tokenizer.PadTokenId);
            File.WriteAllText(Path.Combine(staging, "config.json"), config.ToJson());
            SafeTensorsWriter.Write(Path.Combine(staging, WeightStore.SafetensorsName), CreateWeights(config, options.Seed),
                new Dictionary<string, string> { ["format"] = "pt" });
        });
        return config!;
    }

    private static readonly System.Text.Json.JsonSerializerOptions Indented = new() { WriteIndented = true };
}
