namespace Nuansa.Inference;

/// <summary>
/// What an application calls on a text classifier, to fake in its tests or decorate (caching, logging, fallbacks);
/// <see cref="TextClassifier"/> is Nuansa's. <c>AddTextClassifier</c> registers both under the same key.
/// </summary>
public interface ITextClassifier : IDisposable
{
    /// <summary>The label names, by id.</summary>
    IReadOnlyList<string> Labels { get; }

    /// <summary>Classifies one text.</summary>
    Classification Classify(string text, ClassifyOptions? options = null);

    /// <summary>Classifies a context-conditioned input: <c>[CLS] context [SEP] text [SEP]</c>.</summary>
    Classification Classify(string context, string text, ClassifyOptions? options = null);

    /// <summary>Classifies many inputs in length-sorted batches; results in input order.</summary>
    IReadOnlyList<Classification> ClassifyBatch(IReadOnlyList<TextInput> inputs, ClassifyOptions? options = null,
        IProgress<int>? progress = null, CancellationToken cancellationToken = default);

    /// <summary>Classifies one text off the caller's thread.</summary>
    Task<Classification> ClassifyAsync(string text, ClassifyOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>Classifies many inputs off the caller's thread, with cancellation between batches.</summary>
    Task<IReadOnlyList<Classification>> ClassifyBatchAsync(IReadOnlyList<TextInput> inputs, ClassifyOptions? options = null, CancellationToken cancellationToken = default);
}
