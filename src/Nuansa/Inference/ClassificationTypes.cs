using Nuansa.Tokenization;

namespace Nuansa.Inference;

/// <summary>One input: a text, or a pair whose first part is the context (<c>[CLS] context [SEP] text [SEP]</c>).</summary>
public readonly record struct TextInput(string Text, string? TextPair = null)
{
    /// <summary>A context-conditioned input: the context is encoded first, the text second.</summary>
    public static TextInput WithContext(string context, string text) => new(context, text);

    /// <summary>A single text.</summary>
    public static implicit operator TextInput(string text) => new(text);
}

/// <summary>What turns logits into scores, with HF's <c>function_to_apply</c> names.</summary>
public enum ScoreFunction
{
    /// <summary>From the model: sigmoid for multi-label or one label, none for regression, softmax otherwise.</summary>
    Default,
    /// <summary>Probabilities over the labels that sum to 1 (single-label).</summary>
    Softmax,
    /// <summary>An independent probability per label (multi-label, or a single output).</summary>
    Sigmoid,
    /// <summary>The raw logits (regression, or to calibrate scores yourself).</summary>
    None,
}

/// <summary>Options of a classify call; defaults as HF's text-classification pipeline (top label, model's function).</summary>
public sealed record ClassifyOptions
{
    /// <summary>How many labels to return per input (per task), best first; null returns all.</summary>
    public int? TopK { get; init; } = 1;
    /// <summary>How logits become scores (HF's <c>function_to_apply</c>).</summary>
    public ScoreFunction Function { get; init; } = ScoreFunction.Default;

    /// <summary>Token limit including special tokens; null means the model's limit.</summary>
    public int? MaxLength { get; init; }
    /// <summary>Which part of a too-long input is cut (HF's <c>truncation</c>).</summary>
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

    /// <summary>
    /// Token positions per forward pass, padding included (TEI's <c>max_batch_tokens</c>): a batch of long inputs
    /// holds fewer than <see cref="BatchSize"/>, never fewer than one; null sets no limit. On CPUs, passes of about a
    /// thousand tokens run fastest, their activations staying in cache: measured with a BERT-base (AMD EPYC Zen 4,
    /// 2 threads, batches of 32), 100 IMDb reviews cut at 512 tokens were classified 24% faster with this limit than
    /// without (peak memory 1.9 instead of 3.0 GB), 600 SmSA reviews 5% faster.
    /// </summary>
    public int? MaxBatchTokens { get; init; } = 1024;

    /// <summary>HF pipeline defaults: the top label, the model's function, the model's length.</summary>
    public static ClassifyOptions Default { get; } = new();
}

/// <summary>Inputs longer than the model takes: cut to its length, or classified window by window.</summary>
public enum LongText
{
    /// <summary>Cut to the model's length (HF's default).</summary>
    Truncate,
    /// <summary>Classify overlapping windows and combine their logits.</summary>
    Chunk,
}

/// <summary>How window logits combine: their mean (default), their element-wise maximum, or the first window's.</summary>
public enum WindowAggregate
{
    /// <summary>The mean of the windows' logits.</summary>
    Mean,
    /// <summary>The element-wise maximum: one strong window decides.</summary>
    Max,
    /// <summary>The first window's logits, as truncation would give.</summary>
    First,
}

/// <summary>A label and its score.</summary>
public readonly record struct LabelScore(string Label, float Score);

/// <summary>What kind of head a classifier has, which decides how its logits become scores and which result type it gives.</summary>
public enum HeadKind
{
    /// <summary>One label per input (softmax): <see cref="SingleLabelClassification"/>.</summary>
    SingleLabel,

    /// <summary>Any number of labels per input (a sigmoid per label): <see cref="MultiLabelClassification"/>.</summary>
    MultiLabel,

    /// <summary>One label per task, several tasks on one encoder: <see cref="MultiTaskClassification"/>.</summary>
    MultiTask,
}

/// <summary>
/// The result for one input: its labels best first and the raw logits. The type says the head's kind
/// (<see cref="SingleLabelClassification"/>, <see cref="MultiLabelClassification"/>, <see cref="MultiTaskClassification"/>);
/// every member means something for every kind.
/// </summary>
public abstract class Classification
{
    private protected Classification(IReadOnlyList<LabelScore> labels, float[] logits, IReadOnlyList<Classification>? windows)
    {
        Labels = labels;
        Logits = logits;
        Windows = windows;
    }

    /// <summary>For an input classified in windows (<see cref="LongText.Chunk"/>): each window's own result, in text order.</summary>
    public IReadOnlyList<Classification>? Windows { get; }

    /// <summary>Labels best first (with the scores asked for, by default the top one). A multi-task result names each <c>task/label</c>.</summary>
    public IReadOnlyList<LabelScore> Labels { get; }

    /// <summary>For a multi-task result: task name → that task's labels, best first; null for the other kinds.</summary>
    public virtual IReadOnlyDictionary<string, IReadOnlyList<LabelScore>>? Tasks => null;

    /// <summary>The model's raw outputs for the input, by label id (task after task for a multi-task model).</summary>
    public IReadOnlyList<float> Logits { get; }

    /// <summary>The best label: the predicted one of a single-label model, the most likely of a multi-label model, the surest task's of a multi-task model.</summary>
    public LabelScore Top => Labels[0];

    /// <summary>The kind of head that produced the result.</summary>
    public abstract HeadKind Kind { get; }

    /// <summary>The same result with only the <paramref name="k"/> best labels (of each task).</summary>
    internal abstract Classification Truncate(int k);

    /// <summary>The same result carrying the results of the windows it was combined from.</summary>
    internal abstract Classification WithWindows(IReadOnlyList<Classification> windows);
}

/// <summary>A single-label (softmax) result: <see cref="Classification.Top"/> is the prediction.</summary>
public sealed class SingleLabelClassification : Classification
{
    internal SingleLabelClassification(IReadOnlyList<LabelScore> labels, float[] logits, IReadOnlyList<Classification>? windows = null)
        : base(labels, logits, windows)
    {
    }

    /// <inheritdoc/>
    public override HeadKind Kind => HeadKind.SingleLabel;

    internal override Classification Truncate(int k) => new SingleLabelClassification([.. Labels.Take(k)], [.. Logits], Windows);

    internal override Classification WithWindows(IReadOnlyList<Classification> windows) => new SingleLabelClassification(Labels, [.. Logits], windows);
}

/// <summary>A multi-label (sigmoid per label) result: every label whose score reaches a threshold applies.</summary>
public sealed class MultiLabelClassification : Classification
{
    internal MultiLabelClassification(IReadOnlyList<LabelScore> labels, float[] logits, IReadOnlyList<Classification>? windows = null)
        : base(labels, logits, windows)
    {
    }

    /// <inheritdoc/>
    public override HeadKind Kind => HeadKind.MultiLabel;

    /// <summary>The labels that apply: those scoring at least <paramref name="threshold"/> (HF's pipeline reads 0.5), best first.</summary>
    public IReadOnlyList<LabelScore> Predicted(float threshold = 0.5f) => [.. Labels.Where(l => l.Score >= threshold)];

    internal override Classification Truncate(int k) => new MultiLabelClassification([.. Labels.Take(k)], [.. Logits], Windows);

    internal override Classification WithWindows(IReadOnlyList<Classification> windows) => new MultiLabelClassification(Labels, [.. Logits], windows);
}

/// <summary>A multi-task result: each task's labels (softmax within the task), and all of them as <c>task/label</c>.</summary>
public sealed class MultiTaskClassification : Classification
{
    private readonly IReadOnlyDictionary<string, IReadOnlyList<LabelScore>> _tasks;

    internal MultiTaskClassification(IReadOnlyDictionary<string, IReadOnlyList<LabelScore>> tasks, float[] logits, IReadOnlyList<Classification>? windows = null)
        : base([.. tasks.SelectMany(t => t.Value.Select(l => new LabelScore($"{t.Key}/{l.Label}", l.Score))).OrderByDescending(l => l.Score)], logits, windows)
    {
        _tasks = tasks;
    }

    /// <inheritdoc/>
    public override HeadKind Kind => HeadKind.MultiTask;

    /// <summary>Task name → that task's labels, best first.</summary>
    public override IReadOnlyDictionary<string, IReadOnlyList<LabelScore>> Tasks => _tasks;

    /// <summary>The predicted label of <paramref name="task"/>.</summary>
    public LabelScore TopOf(string task) => _tasks.TryGetValue(task, out var labels) ? labels[0]
        : throw new ArgumentException($"No task \"{task}\" (tasks: {string.Join(", ", _tasks.Keys)}).", nameof(task));

    internal override Classification Truncate(int k) =>
        new MultiTaskClassification(_tasks.ToDictionary(t => t.Key, t => (IReadOnlyList<LabelScore>)[.. t.Value.Take(k)], StringComparer.Ordinal), [.. Logits], Windows);

    internal override Classification WithWindows(IReadOnlyList<Classification> windows) => new MultiTaskClassification(_tasks, [.. Logits], windows);
}

/// <summary>One task of a multi-task model: its name and labels; its logits follow the previous task's.</summary>
public sealed record TaskHead(string Name, IReadOnlyList<string> Labels);
