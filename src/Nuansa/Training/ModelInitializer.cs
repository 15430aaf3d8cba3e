using System.Text.Json.Nodes;
using Nuansa.Checkpoints;
using Nuansa.Models;

namespace Nuansa.Training;

/// <summary>Sizes and labels of a new, randomly initialized model.</summary>
public sealed record NewModelOptions
{
    /// <summary><c>bert</c>, <c>distilbert</c> or <c>roberta</c>.</summary>
    public required string ModelType { get; init; }

    /// <summary>Label names, in id order.</summary>
    public required IReadOnlyList<string> Labels { get; init; }

    /// <summary>Sizes default to the base model's (bert-base-uncased, distilbert-base-uncased, roberta-base).</summary>
    public int? HiddenSize { get; init; }

    /// <summary>Number of transformer layers.</summary>
    public int? NumHiddenLayers { get; init; }

    /// <summary>Attention heads per layer (must divide the hidden size).</summary>
    public int? NumAttentionHeads { get; init; }

    /// <summary>Feed-forward width; 4 × the hidden size by default.</summary>
    public int? IntermediateSize { get; init; }

    /// <summary>Longest input in tokens (rows of the position table).</summary>
    public int? MaxPositionEmbeddings { get; init; }

    /// <summary>config.json's <c>problem_type</c> (null: single-label classification).</summary>
    public string? ProblemType { get; init; }

    /// <summary>Seed of the random initialization.</summary>
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
        var json = Architecture.For(o.ModelType).NewConfig(o, vocabSize, padTokenId);
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
        return [.. Architecture.For(config).Parameters(config).Select(p => TensorToWrite.FromSingle(p.Name, p.Shape, InitialValues(p, config, random)))];
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
        var (vocabularyName, mergesName, tokenizerConfig) = Architecture.For(options.ModelType).NewTokenizer(options, cased);
        if (mergesName != null && (mergesPath == null || !File.Exists(mergesPath)))
            throw new NuansaException($"A {options.ModelType} model needs --merges ({mergesName}) beside its {vocabularyName}.");

        ModelConfig? config = null;
        AtomicFolder.Write(outputDirectory, staging =>
        {
            File.Copy(vocabPath, Path.Combine(staging, vocabularyName));
            if (mergesName != null)
                File.Copy(mergesPath!, Path.Combine(staging, mergesName));
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
