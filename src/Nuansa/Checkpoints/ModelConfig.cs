using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Nuansa.Checkpoints;

/// <summary>
/// A checkpoint's <c>config.json</c>, read with HF's field names and HF's defaults for absent fields.
/// DistilBERT's own names (<c>dim</c>, <c>n_layers</c>, <c>n_heads</c>, <c>hidden_dim</c>, <c>dropout</c>,
/// <c>attention_dropout</c>, <c>activation</c>) are mapped to the common properties, as HF's
/// <c>attribute_map</c> does. Every field of the file, known or not, is kept for writing back.
/// </summary>
public sealed class ModelConfig
{
    /// <summary>The <c>model_type</c> values Nuansa can load.</summary>
    public static readonly IReadOnlyList<string> SupportedModelTypes = ["bert", "distilbert", "roberta", "xlm-roberta"];

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

        if (ModelType == "distilbert")
        {
            VocabSize = reader.Int("vocab_size", 30522);
            MaxPositionEmbeddings = reader.Int("max_position_embeddings", 512);
            SinusoidalPositionEmbeddings = reader.Bool("sinusoidal_pos_embds", false);
            NumHiddenLayers = reader.Int("n_layers", 6);
            NumAttentionHeads = reader.Int("n_heads", 12);
            HiddenSize = reader.Int("dim", 768);
            IntermediateSize = reader.Int("hidden_dim", 4 * 768);
            HiddenDropoutProb = reader.Probability("dropout", 0.1);
            AttentionProbsDropoutProb = reader.Probability("attention_dropout", 0.1);
            HiddenAct = reader.String("activation", "gelu")!;
            InitializerRange = reader.Double("initializer_range", 0.02);
            SeqClassifDropout = reader.Probability("seq_classif_dropout", 0.2);
            LayerNormEps = 1e-12; // fixed in DistilBERT's code, not configurable
            TypeVocabSize = 0;
            PadTokenId = reader.NullableInt("pad_token_id", 0);
            PositionEmbeddingType = "absolute";
        }
        else
        {
            var roberta = ModelType is "roberta" or "xlm-roberta";
            VocabSize = reader.Int("vocab_size", ModelType == "roberta" ? 50265 : 30522);
            HiddenSize = reader.Int("hidden_size", 768);
            NumHiddenLayers = reader.Int("num_hidden_layers", 12);
            NumAttentionHeads = reader.Int("num_attention_heads", 12);
            IntermediateSize = reader.Int("intermediate_size", 3072);
            HiddenAct = reader.String("hidden_act", "gelu")!;
            HiddenDropoutProb = reader.Probability("hidden_dropout_prob", 0.1);
            AttentionProbsDropoutProb = reader.Probability("attention_probs_dropout_prob", 0.1);
            MaxPositionEmbeddings = reader.Int("max_position_embeddings", 512);
            TypeVocabSize = reader.Int("type_vocab_size", 2);
            InitializerRange = reader.Double("initializer_range", 0.02);
            LayerNormEps = reader.Double("layer_norm_eps", 1e-12);
            PadTokenId = reader.NullableInt("pad_token_id", roberta ? 1 : 0);
            BosTokenId = reader.NullableInt("bos_token_id", roberta ? 0 : null);
            EosTokenId = reader.NullableInt("eos_token_id", roberta ? 2 : null);
            PositionEmbeddingType = reader.String("position_embedding_type", "absolute")!;
            ClassifierDropout = reader.NullableProbability("classifier_dropout");
        }

        if (HiddenSize % NumAttentionHeads != 0)
            throw new CheckpointFormatException($"{source}: the hidden size ({HiddenSize}) is not a multiple of the number of attention heads ({NumAttentionHeads}).");

        ProblemType = reader.String("problem_type", null);
        if (ProblemType != null && !ProblemTypes.Contains(ProblemType))
            throw new CheckpointFormatException($"{source}: problem_type \"{ProblemType}\" is not one of {string.Join(", ", ProblemTypes)}.");

        (Id2Label, Label2Id) = ReadLabels(json, reader, source);
    }

    /// <summary>Where the config was read from (for messages).</summary>
    public string Source { get; }

    public string ModelType { get; }
    public IReadOnlyList<string> Architectures { get; }
    public int VocabSize { get; }
    public int HiddenSize { get; }
    public int NumHiddenLayers { get; }
    public int NumAttentionHeads { get; }
    public int IntermediateSize { get; }
    public string HiddenAct { get; }
    public double HiddenDropoutProb { get; }
    public double AttentionProbsDropoutProb { get; }
    public int MaxPositionEmbeddings { get; }

    /// <summary>Token type (segment) vocabulary size; 0 for DistilBERT, which has no token type embeddings.</summary>
    public int TypeVocabSize { get; }
    public double InitializerRange { get; }
    public double LayerNormEps { get; }
    public int? PadTokenId { get; }
    public int? BosTokenId { get; }
    public int? EosTokenId { get; }
    public string PositionEmbeddingType { get; }

    /// <summary>BERT / RoBERTa: dropout before the classifier; null means "use <see cref="HiddenDropoutProb"/>".</summary>
    public double? ClassifierDropout { get; }

    /// <summary>DistilBERT: dropout before the classifier.</summary>
    public double SeqClassifDropout { get; }

    /// <summary>DistilBERT: fixed sinusoidal position embeddings instead of learned ones.</summary>
    public bool SinusoidalPositionEmbeddings { get; }

    /// <summary><c>single_label_classification</c>, <c>multi_label_classification</c>, <c>regression</c>, or null (HF infers it).</summary>
    public string? ProblemType { get; }

    /// <summary>Label names by id (index = id).</summary>
    public IReadOnlyList<string> Id2Label { get; }

    /// <summary>The file's <c>label2id</c>, or the inverse of <see cref="Id2Label"/> when absent.</summary>
    public IReadOnlyDictionary<string, int> Label2Id { get; }

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
    private sealed class FieldReader(JsonObject json, string source)
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
