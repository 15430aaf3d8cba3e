using System.Text.Json;

namespace Nuansa.Checkpoints;

/// <summary>
/// What <c>nuansa inspect</c> reports about a checkpoint folder. The JSON form is a stable,
/// documented interface (see the README): fields are only ever added, never renamed or removed.
/// </summary>
public sealed class CheckpointSummary
{
    /// <summary>Version of the JSON layout; raised only if a field must change meaning.</summary>
    public const int SchemaVersion = 1;

    private CheckpointSummary(string path, ModelConfig config, WeightStore weights)
    {
        Path = path;
        Config = config;
        WeightFormat = weights.Format;
        WeightFiles = weights.Files;
        ParameterCount = weights.ParameterCount;
        Tensors = weights.Tensors;
    }

    /// <summary>The checkpoint folder.</summary>
    public string Path { get; }

    /// <summary>Its config.json.</summary>
    public ModelConfig Config { get; }

    /// <summary>How its weights are stored: <c>safetensors</c> or <c>pytorch</c> (pickle, read without executing it).</summary>
    public string WeightFormat { get; }

    /// <summary>The weight files read (several for a sharded checkpoint).</summary>
    public IReadOnlyList<string> WeightFiles { get; }

    /// <summary>Number of stored weight values, all tensors together.</summary>
    public long ParameterCount { get; }

    /// <summary>Every stored tensor's name, type and shape.</summary>
    public IReadOnlyList<TensorInfo> Tensors { get; }

    /// <summary>Reads the config and the weights' headers of a checkpoint folder.</summary>
    public static CheckpointSummary Read(string path)
    {
        var config = ModelConfig.Load(path);
        using var weights = WeightStore.Open(path);
        return new CheckpointSummary(path, config, weights);
    }

    /// <summary>The summary as the JSON <c>nuansa inspect --json</c> prints.</summary>
    public string ToJson()
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            json.WriteNumber("schema_version", SchemaVersion);
            json.WriteString("path", Path);
            json.WriteString("model_type", Config.ModelType);
            json.WriteStartArray("architectures");
            foreach (var a in Config.Architectures)
                json.WriteStringValue(a);
            json.WriteEndArray();

            json.WriteStartObject("config");
            json.WriteNumber("vocab_size", Config.VocabSize);
            json.WriteNumber("hidden_size", Config.HiddenSize);
            json.WriteNumber("num_hidden_layers", Config.NumHiddenLayers);
            json.WriteNumber("num_attention_heads", Config.NumAttentionHeads);
            json.WriteNumber("intermediate_size", Config.IntermediateSize);
            json.WriteNumber("max_position_embeddings", Config.MaxPositionEmbeddings);
            json.WriteNumber("type_vocab_size", Config.TypeVocabSize);
            json.WriteString("hidden_act", Config.HiddenAct);
            json.WriteNumber("layer_norm_eps", Config.LayerNormEps);
            json.WriteEndObject();

            if (Config.ProblemType is { } problem)
                json.WriteString("problem_type", problem);
            else
                json.WriteNull("problem_type");
            json.WriteNumber("num_labels", Config.NumLabels);
            json.WriteStartArray("labels");
            foreach (var label in Config.Id2Label)
                json.WriteStringValue(label);
            json.WriteEndArray();

            json.WriteStartObject("weights");
            json.WriteString("format", WeightFormat);
            json.WriteStartArray("files");
            foreach (var f in WeightFiles)
                json.WriteStringValue(f);
            json.WriteEndArray();
            json.WriteNumber("parameter_count", ParameterCount);
            json.WriteEndObject();

            json.WriteStartArray("tensors");
            foreach (var t in Tensors)
            {
                json.WriteStartObject();
                json.WriteString("name", t.Name);
                json.WriteString("dtype", t.DType.Name());
                json.WriteStartArray("shape");
                foreach (var d in t.Shape)
                    json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
    }
}
