using System.Text.Json.Nodes;
using Nuansa.Checkpoints;
using Nuansa.Graphs;
using Nuansa.Training;

namespace Nuansa.Models;

/// <summary>
/// One model family (BERT; DistilBERT; RoBERTa and XLM-R), everything that differs between families in one object:
/// its config fields, weight prefix, HF class names, whether it takes token types, where its positions start, its
/// forward graph, and what a new model of it looks like. Nothing else switches on <c>model_type</c>; a new family is a
/// new subclass in its own file plus a line in <see cref="All"/>. The parameter layout is not written down but recorded
/// while the forward graph is built, so it cannot disagree with the graph.
/// </summary>
internal abstract class Architecture
{
    /// <summary>Every family, as HF's <c>AutoModelForSequenceClassification</c> maps <c>model_type</c> to a class.</summary>
    public static readonly IReadOnlyList<Architecture> All = [new Bert(), new DistilBert(), new Roberta()];

    public static IReadOnlyList<string> SupportedModelTypes { get; } = [.. All.SelectMany(a => a.ModelTypes)];

    public static Architecture For(string modelType) =>
        All.FirstOrDefault(a => a.ModelTypes.Contains(modelType))
        ?? throw new UnsupportedModelException($"model_type \"{modelType}\" is not supported. Supported model types: {string.Join(", ", SupportedModelTypes)}.");

    public static Architecture For(ModelConfig config) => For(config.ModelType);

    /// <summary>The <c>model_type</c> values of the family.</summary>
    public abstract IReadOnlyList<string> ModelTypes { get; }

    /// <summary>The prefix of the base model's weights (<c>bert.</c>), which checkpoints of the bare encoder leave out.</summary>
    public abstract string BasePrefix { get; }

    /// <summary>HF's sequence-classification class for <paramref name="modelType"/> (config.json's <c>architectures</c>).</summary>
    public abstract string ClassName(string modelType);

    /// <summary>True when the graph takes <c>token_type_ids</c>.</summary>
    public abstract bool UsesTokenTypes { get; }

    /// <summary>Rows of the position table before the first position (RoBERTa's start after <c>padding_idx</c>).</summary>
    public virtual int PositionOffset(ModelConfig config) => 0;

    /// <summary>The most tokens the position table holds.</summary>
    public int MaxPositions(ModelConfig config) => config.MaxPositionEmbeddings - PositionOffset(config);

    /// <summary>Reads the family's config fields, with HF's names and defaults.</summary>
    public abstract void ReadConfig(ModelConfig config, ModelConfig.FieldReader reader);

    /// <summary>The config.json fields of a new model of this family (sizes from <paramref name="options"/>, else the base model's).</summary>
    public abstract JsonObject NewConfig(NewModelOptions options, int vocabSize, int padTokenId);

    /// <summary>A new model's tokenizer files: the vocabulary file names it takes and its tokenizer_config.json.</summary>
    public abstract (string Vocabulary, string? Merges, JsonObject TokenizerConfig) NewTokenizer(NewModelOptions options, bool cased);

    /// <summary>Adds the inputs and the forward pass to <paramref name="g"/>; returns the logits.</summary>
    public abstract string Forward(GraphBuilder g, ModelWeights w, ModelConfig config, GraphOptions options);

    /// <summary>The parameters in the order of HF's <c>named_parameters()</c>, as the forward graph asks for them.</summary>
    public IReadOnlyList<Parameter> Parameters(ModelConfig config)
    {
        var recorder = ModelWeights.Recorder(BasePrefix);
        Forward(new GraphBuilder("layout"), recorder, config, new GraphOptions());
        return recorder.Parameters;
    }
}
