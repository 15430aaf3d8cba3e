using Nuansa.Tokenization;

namespace Nuansa.Inference;

/// <summary>One input: a text, or a pair whose first part is the context (<c>[CLS] context [SEP] text [SEP]</c>).</summary>
public readonly record struct TextInput(string Text, string? TextPair = null)
{
    /// <summary>A context-conditioned input: the context is encoded first, the text second.</summary>
    public static TextInput WithContext(string context, string text) => new(context, text);

    public static implicit operator TextInput(string text) => new(text);
}

/// <summary>What turns logits into scores, with HF's <c>function_to_apply</c> names.</summary>
public enum ScoreFunction
{
    /// <summary>From the model: sigmoid for multi-label or one label, none for regression, softmax otherwise.</summary>
    Default,
    Softmax,
    Sigmoid,
    None,
}

/// <summary>Options of a classify call; defaults as HF's text-classification pipeline (top label, model's function).</summary>
public sealed record ClassifyOptions
{
    /// <summary>How many labels to return per input (per task), best first; null returns all.</summary>
    public int? TopK { get; init; } = 1;
    public ScoreFunction Function { get; init; } = ScoreFunction.Default;

    /// <summary>Token limit including special tokens; null means the model's limit.</summary>
    public int? MaxLength { get; init; }
    public TruncationStrategy Truncation { get; init; } = TruncationStrategy.LongestFirst;

    /// <summary>Which end of a too-long text is cut (HF's <c>truncation_side</c>).</summary>
    public TruncationSide TruncationSide { get; init; } = TruncationSide.Right;

    /// <summary>What happens to an input longer than <see cref="MaxLength"/>: cut (HF's default), or classified in windows.</summary>
    public LongText LongText { get; init; } = LongText.Truncate;

    /// <summary>With <see cref="LongText.Chunk"/>: tokens each window shares with the previous one (HF's <c>stride</c>).</summary>
    public int Stride { get; init; }

    /// <summary>With <see cref="LongText.Chunk"/>: how the windows' logits become the input's.</summary>
    public WindowAggregate Aggregate { get; init; } = WindowAggregate.Mean;

    /// <summary>Inputs per forward pass; batches are formed from inputs of similar length.</summary>
    public int BatchSize { get; init; } = 32;

    public static ClassifyOptions Default { get; } = new();
}

/// <summary>Inputs longer than the model takes: cut to its length, or classified window by window.</summary>
public enum LongText
{
    Truncate,
    Chunk,
}

/// <summary>How window logits combine: their mean (default), their element-wise maximum, or the first window's.</summary>
public enum WindowAggregate
{
    Mean,
    Max,
    First,
}

/// <summary>A label and its score.</summary>
public readonly record struct LabelScore(string Label, float Score);

/// <summary>The result for one input: the best labels (or, for a multi-task model, the best labels of each task) and the raw logits.</summary>
public sealed class Classification(IReadOnlyList<LabelScore> labels, IReadOnlyDictionary<string, IReadOnlyList<LabelScore>>? tasks, float[] logits,
    IReadOnlyList<Classification>? windows = null)
{
    /// <summary>For an input classified in windows (<see cref="LongText.Chunk"/>): each window's own result, in text order.</summary>
    public IReadOnlyList<Classification>? Windows { get; } = windows;

    /// <summary>Labels best first. Empty for a multi-task model, whose labels are under <see cref="Tasks"/>.</summary>
    public IReadOnlyList<LabelScore> Labels { get; } = labels;

    /// <summary>For a multi-task model: task name → that task's labels, best first.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<LabelScore>>? Tasks { get; } = tasks;

    public IReadOnlyList<float> Logits { get; } = logits;

    /// <summary>The best label (of the only task).</summary>
    public LabelScore Top => Labels.Count > 0 ? Labels[0] : throw new InvalidOperationException("A multi-task result has its labels under Tasks.");
}

/// <summary>One task of a multi-task model: its name and labels; its logits follow the previous task's.</summary>
public sealed record TaskHead(string Name, IReadOnlyList<string> Labels);
