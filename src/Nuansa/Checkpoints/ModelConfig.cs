using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Nuansa.Checkpoints;

/// <summary>The model families Nuansa runs (config.json's <c>model_type</c>).</summary>
public enum ModelFamily
{
    /// <summary>BERT (<c>bert</c>).</summary>
    Bert,

    /// <summary>DistilBERT (<c>distilbert</c>).</summary>
    DistilBert,

    /// <summary>RoBERTa (<c>roberta</c>).</summary>
    Roberta,

    /// <summary>XLM-RoBERTa (<c>xlm-roberta</c>).</summary>
    XlmRoberta,
}

/// <summary>What a head's outputs mean (config.json's <c>problem_type</c>, resolved as HF resolves an absent one).</summary>
public enum Problem
{
    /// <summary>One label per input: softmax over the outputs.</summary>
    SingleLabelClassification,

    /// <summary>Any number of labels per input: a sigmoid per output.</summary>
    MultiLabelClassification,

    /// <summary>Real-valued outputs, used as they are.</summary>
    Regression,
}

/// <summary>
/// A checkpoint's <c>config.json</c>, read with HF's field names and HF's defaults for absent fields.
/// DistilBERT's own names (<c>dim</c>, <c>n_layers</c>, <c>n_heads</c>, <c>hidden_dim</c>, <c>dropout</c>,
/// <c>attention_dropout</c>, <c>activation</c>) are mapped to the common properties, as HF's
/// <c>attribute_map</c> does. Every field of the file, known or not, is kept for writing back.
/// </summary>
public sealed class ModelConfig
{
    /// <summary>The <c>model_type</c> values Nuansa can load.</summary>
    public static IReadOnlyList<string> SupportedModelTypes => Models.Architecture.SupportedModelTypes;

    /// <summary>The <c>problem_type</c> values HF accepts.</summary>
    public static readonly IReadOnlyList<string> ProblemTypes = ["regression", "single_label_classification", "multi_label_classification"];

    /// <summary>Upper bound on a config file's size; real ones are a few KB.</summary>
    public const long MaxFileBytes = 16 << 20;

    private readonly JsonObject _json;

    private ModelConfig(JsonObject json, string source)
    {
        _json = json;
        Source = source;
        var reader = new FieldReader(json, source);

        ModelType = reader.String("model_type", null)
                    ?? throw new UnsupportedModelException($"{source}: no \"model_type\" field. Supported model types: {string.Join(", ", SupportedModelTypes)}.");
        if (!SupportedModelTypes.Contains(ModelType))
            throw new UnsupportedModelException($"{source}: model_type \"{ModelType}\" is not supported. Supported model types: {string.Join(", ", SupportedModelTypes)}.");
        Architectures = reader.StringList("architectures");

        // The family reads its own field names and defaults (DistilBERT's dim, n_layers, ...; RoBERTa's padding ids).
        Models.Architecture.For(ModelType).ReadConfig(this, reader);

        if (HiddenSize % NumAttentionHeads != 0)
            throw new CheckpointFormatException($"{source}: the hidden size ({HiddenSize}) is not a multiple of the number of attention heads ({NumAttentionHeads}).");

        ProblemType = reader.String("problem_type", null);
        if (ProblemType != null && !ProblemTypes.Contains(ProblemType))
            throw new CheckpointFormatException($"{source}: problem_type \"{ProblemType}\" is not one of {string.Join(", ", ProblemTypes)}.");

        (Id2Label, Label2Id) = ReadLabels(json, reader, source);
    }

    /// <summary>Where the config was read from (for messages).</summary>
    public string Source { get; }

    /// <summary>config.json's <c>model_type</c> (<c>bert</c>, <c>distilbert</c>, <c>roberta</c>, <c>xlm-roberta</c>).</summary>
    public string ModelType { get; }

    /// <summary><see cref="ModelType"/> as an enum.</summary>
    public ModelFamily Family => ModelType switch
    {
        "distilbert" => ModelFamily.DistilBert,
        "roberta" => ModelFamily.Roberta,
        "xlm-roberta" => ModelFamily.XlmRoberta,
        _ => ModelFamily.Bert,
    };

    /// <summary>config.json's <c>architectures</c> (class names such as <c>BertForSequenceClassification</c>); empty when absent.</summary>
    public IReadOnlyList<string> Architectures { get; }

    /// <summary>Rows of the word embedding table (<c>vocab_size</c>).</summary>
    public int VocabSize { get; internal set; }

    /// <summary>Width of every layer (<c>hidden_size</c>; DistilBERT's <c>dim</c>).</summary>
    public int HiddenSize { get; internal set; }

    /// <summary>Number of transformer layers (<c>num_hidden_layers</c>; DistilBERT's <c>n_layers</c>).</summary>
    public int NumHiddenLayers { get; internal set; }

    /// <summary>Attention heads per layer (<c>num_attention_heads</c>; DistilBERT's <c>n_heads</c>).</summary>
    public int NumAttentionHeads { get; internal set; }

    /// <summary>Width of the feed-forward block (<c>intermediate_size</c>; DistilBERT's <c>hidden_dim</c>).</summary>
    public int IntermediateSize { get; internal set; }

    /// <summary>The feed-forward activation (<c>hidden_act</c>; DistilBERT's <c>activation</c>), e.g. <c>gelu</c>.</summary>
    public string HiddenAct { get; internal set; } = "gelu";

    /// <summary>Dropout on embeddings and layer outputs in training (<c>hidden_dropout_prob</c>; DistilBERT's <c>dropout</c>).</summary>
    public double HiddenDropoutProb { get; internal set; }

    /// <summary>Dropout on attention probabilities in training (<c>attention_probs_dropout_prob</c>; DistilBERT's <c>attention_dropout</c>).</summary>
    public double AttentionProbsDropoutProb { get; internal set; }

    /// <summary>Rows of the position embedding table (<c>max_position_embeddings</c>): the longest input the model takes (RoBERTa: minus its padding offset).</summary>
    public int MaxPositionEmbeddings { get; internal set; }

    /// <summary>Token type (segment) vocabulary size; 0 for DistilBERT, which has no token type embeddings.</summary>
    public int TypeVocabSize { get; internal set; }

    /// <summary>Standard deviation of the normal initialization of new weights (<c>initializer_range</c>).</summary>
    public double InitializerRange { get; internal set; }

    /// <summary>Epsilon of every LayerNorm (<c>layer_norm_eps</c>).</summary>
    public double LayerNormEps { get; internal set; }

    /// <summary>Id of the padding token (<c>pad_token_id</c>), if any.</summary>
    public int? PadTokenId { get; internal set; }

    /// <summary>Id of the beginning-of-sequence token (<c>bos_token_id</c>), if any.</summary>
    public int? BosTokenId { get; internal set; }

    /// <summary>Id of the end-of-sequence token (<c>eos_token_id</c>), if any.</summary>
    public int? EosTokenId { get; internal set; }

    /// <summary><c>position_embedding_type</c>; only <c>absolute</c> is supported.</summary>
    public string PositionEmbeddingType { get; internal set; } = "absolute";

    /// <summary>BERT / RoBERTa: dropout before the classifier; null means "use <see cref="HiddenDropoutProb"/>".</summary>
    public double? ClassifierDropout { get; internal set; }

    /// <summary>DistilBERT: dropout before the classifier.</summary>
    public double SeqClassifDropout { get; internal set; }

    /// <summary>DistilBERT: fixed sinusoidal position embeddings instead of learned ones.</summary>
    public bool SinusoidalPositionEmbeddings { get; internal set; }

    /// <summary><c>single_label_classification</c>, <c>multi_label_classification</c>, <c>regression</c>, or null (HF infers it).</summary>
    public string? ProblemType { get; }

    /// <summary><see cref="ProblemType"/> resolved as HF's models resolve it: absent means regression for one output, single-label otherwise.</summary>
    public Problem Problem => ProblemType switch
    {
        "multi_label_classification" => Problem.MultiLabelClassification,
        "regression" => Problem.Regression,
        "single_label_classification" => Problem.SingleLabelClassification,
        _ => NumLabels == 1 ? Problem.Regression : Problem.SingleLabelClassification,
    };

    /// <summary>Label names by id (index = id).</summary>
    public IReadOnlyList<string> Id2Label { get; }

    /// <summary>The file's <c>label2id</c>, or the inverse of <see cref="Id2Label"/> when absent.</summary>
    public IReadOnlyDictionary<string, int> Label2Id { get; }

    /// <summary>Number of outputs of the classification head (the length of <see cref="Id2Label"/>).</summary>
    public int NumLabels => Id2Label.Count;

    /// <summary>Reads <c>config.json</c> from a checkpoint folder, or a config file given directly.</summary>
    public static ModelConfig Load(string path)
    {
        var file = Directory.Exists(path) ? Path.Combine(path, "config.json") : path;
        if (!File.Exists(file))
        {
            throw new CheckpointFormatException(Directory.Exists(path)
                ? $"{path}: no config.json in this folder; a Hugging Face checkpoint folder has one."
                : $"{path}: no such file or folder.");
        }
        if (file == path && !path.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
            throw new CheckpointFormatException($"{path}: is a file; give the checkpoint folder (the one with config.json).");
        var length = new FileInfo(file).Length;
        if (length > MaxFileBytes)
            throw new CheckpointFormatException($"{file}: {length} bytes is too large for a config file (limit {MaxFileBytes}).");
        return Parse(File.ReadAllText(file), file);
    }

    /// <summary>Parses the text of a <c>config.json</c>.</summary>
    public static ModelConfig Parse(string json, string source = "config.json")
    {
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException e)
        {
            throw new CheckpointFormatException($"{source}: not valid JSON: {e.Message}", e);
        }
        if (node is not JsonObject obj)
            throw new CheckpointFormatException($"{source}: the top level is not a JSON object.");
        return new ModelConfig(obj, source);
    }

    /// <summary>The raw value of any field, as in the file (null when absent).</summary>
    public JsonNode? this[string field] => _json[field]?.DeepClone();

    /// <summary>The config as JSON, every field of the original file kept (indented, keys sorted, as HF writes it).</summary>
    public string ToJson()
    {
        var sorted = new JsonObject();
        foreach (var (key, value) in _json.OrderBy(p => p.Key, StringComparer.Ordinal))
            sorted[key] = value?.DeepClone();
        return sorted.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }) + "\n";
    }

    private static (IReadOnlyList<string>, IReadOnlyDictionary<string, int>) ReadLabels(JsonObject json, FieldReader reader, string source)
    {
        string[] labels;
        if (json["id2label"] is JsonObject id2label)
        {
            labels = new string[id2label.Count];
            foreach (var (key, value) in id2label)
            {
                if (!int.TryParse(key, NumberStyles.None, CultureInfo.InvariantCulture, out var id) || id < 0 || id >= labels.Length)
                    throw new CheckpointFormatException($"{source}: id2label key \"{key}\" is not an id from 0 to {labels.Length - 1}.");
                if (labels[id] != null)
                    throw new CheckpointFormatException($"{source}: id2label gives id {id} twice.");
                labels[id] = value is JsonValue v && v.TryGetValue(out string? name)
                    ? name
                    : throw new CheckpointFormatException($"{source}: id2label[\"{key}\"] is not a string.");
            }
        }
        else if (json["id2label"] is null)
        {
            var count = reader.Int("num_labels", 2);
            labels = Enumerable.Range(0, count).Select(i => $"LABEL_{i}").ToArray();
        }
        else
        {
            throw new CheckpointFormatException($"{source}: id2label is not an object.");
        }
        if (labels.Length == 0)
            throw new CheckpointFormatException($"{source}: id2label is empty; a classifier needs at least one label.");

        var label2id = new Dictionary<string, int>(StringComparer.Ordinal);
        if (json["label2id"] is JsonObject given)
        {
            foreach (var (key, value) in given)
            {
                if (value is not JsonValue v || !v.TryGetValue(out int id))
                    throw new CheckpointFormatException($"{source}: label2id[\"{key}\"] is not an integer.");
                label2id[key] = id;
            }
        }
        else if (json["label2id"] is null)
        {
            for (var i = 0; i < labels.Length; i++)
                label2id.TryAdd(labels[i], i);
        }
        else
        {
            throw new CheckpointFormatException($"{source}: label2id is not an object.");
        }
        return (labels, label2id);
    }

    /// <summary>Typed access to config fields with HF's defaults and clear messages for wrong types.</summary>
    internal sealed class FieldReader(JsonObject json, string source)
    {
        public string? String(string field, string? fallback) => json[field] switch
        {
            null => fallback,
            JsonValue v when v.TryGetValue(out string? s) => s,
            var other => throw Wrong(field, "a string", other),
        };

        public bool Bool(string field, bool fallback) => json[field] switch
        {
            null => fallback,
            JsonValue v when v.TryGetValue(out bool b) => b,
            var other => throw Wrong(field, "true or false", other),
        };

        public int Int(string field, int fallback)
        {
            var value = NullableInt(field, fallback);
            if (value is not { } v || v <= 0)
                throw new CheckpointFormatException($"{source}: \"{field}\" must be a positive integer, not {json[field]?.ToJsonString() ?? "null"}.");
            return v;
        }

        public int? NullableInt(string field, int? fallback)
        {
            if (!json.ContainsKey(field))
                return fallback;
            return json[field] switch
            {
                null => null,
                JsonValue v when v.TryGetValue(out int i) => i,
                var other => throw Wrong(field, "an integer", other),
            };
        }

        public double Double(string field, double fallback) => json[field] switch
        {
            null => fallback,
            JsonValue v when v.TryGetValue(out double d) && double.IsFinite(d) => d,
            var other => throw Wrong(field, "a number", other),
        };

        public double Probability(string field, double fallback)
        {
            var p = Double(field, fallback);
            return p is >= 0 and < 1 ? p : throw Wrong(field, "a probability in [0, 1)", json[field]);
        }

        public double? NullableProbability(string field) =>
            json[field] is null ? null : Probability(field, 0);

        public IReadOnlyList<string> StringList(string field) => json[field] switch
        {
            null => [],
            JsonArray a when a.All(x => x is JsonValue v && v.TryGetValue(out string? _)) => a.Select(x => x!.GetValue<string>()).ToArray(),
            var other => throw Wrong(field, "a list of strings", other),
        };

        private CheckpointFormatException Wrong(string field, string expected, JsonNode? value) =>
            new($"{source}: \"{field}\" must be {expected}, not {value?.ToJsonString() ?? "null"}.");
    }
}
