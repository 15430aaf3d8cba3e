using System.Diagnostics;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using Nuansa.Checkpoints;
using Nuansa.Graphs.Onnx;
using Nuansa.Models;
using Nuansa.Tokenization;

namespace Nuansa.Inference;

/// <summary>Options for loading a classifier.</summary>
public sealed record TextClassifierOptions
{
    /// <summary>ONNX Runtime threads per forward pass; 0 uses every core.</summary>
    public int Threads { get; init; }

    /// <summary>
    /// ONNX Runtime's worker threads spin for a while after each operator waiting for the next (on by default: the
    /// lowest latency when the classifier has the cores to itself). Turn it off when other work shares the cores, such
    /// as a second classifier with its own threads: measured on BERT-base at batch 1 (AMD EPYC Zen 4, 2 threads), two
    /// sessions taking turns ran 151–157 ms a pass with spinning and 122 ms without; one alone, 118 and 121.
    /// </summary>
    public bool AllowSpinning { get; init; } = true;

    /// <summary>Reads a plain checkpoint as multi-task (overrides <c>nuansa_tasks</c> in its config).</summary>
    public IReadOnlyList<TaskHead>? Tasks { get; init; }

    /// <summary>Int8 runs the encoder's linear layers quantized (smaller, faster on CPUs with int8 dot products, slightly different scores).</summary>
    public Quantization Quantization { get; init; }

    /// <summary>Int8: how the weights use their 8 bits; Auto (the default) picks the most precise form that is exact on this CPU.</summary>
    public Int8Weights Int8Weights { get; init; }

    /// <summary>Where loading says what it loaded and how it computes (Information); null logs nothing.</summary>
    public ILogger? Logger { get; init; }
}

/// <summary>
/// A Hugging Face sequence classifier (BERT, DistilBERT, RoBERTa, XLM-R) ready to classify texts and
/// context–text pairs on the CPU. Thread-safe; dispose it to free the ONNX Runtime session.
/// </summary>
public sealed class TextClassifier : ITextClassifier
{
    private readonly OnnxSession _session;
    private readonly bool _tokenTypes;
    private readonly KeyValuePair<string, object?> _tag;

    private TextClassifier(string path, ModelConfig config, Tokenizer tokenizer, OnnxSession session, IReadOnlyList<TaskHead>? tasks, Int8Weights? int8Weights)
    {
        Int8Weights = int8Weights;
        Path = path;
        Config = config;
        Tokenizer = tokenizer;
        _session = session;
        var architecture = Architecture.For(config);
        _tokenTypes = architecture.UsesTokenTypes;
        _tag = new KeyValuePair<string, object?>("nuansa.model", System.IO.Path.GetFileName(path.TrimEnd('/', '\\')));
        Tasks = tasks;
        // Fixed by the checkpoint: worked out once, not per input.
        MaxLength = Math.Min(tokenizer.ModelMaxLength, architecture.MaxPositions(config));
        Head = tasks != null ? HeadKind.MultiTask : config.Problem == Problem.MultiLabelClassification ? HeadKind.MultiLabel : HeadKind.SingleLabel;
        Preprocessing = Data.TextPreprocessing.FromConfig(config);
    }

    /// <summary>The checkpoint folder loaded (a Hub id resolved to its cache folder).</summary>
    public string Path { get; }

    /// <summary>For an int8 model, the weight form it runs with (never Auto); null for float32.</summary>
    public Int8Weights? Int8Weights { get; }

    /// <summary>How the model computes, in a few words: "float32", or the int8 form and why it was chosen.</summary>
    public string Precision => Int8Weights is { } form ? Int8Kernels.Explain(form) : "float32";
    /// <summary>The model's config.json.</summary>
    public ModelConfig Config { get; }
    /// <summary>The model's tokenizer, as HF's fast tokenizer reads its files.</summary>
    public Tokenizer Tokenizer { get; }

    /// <summary>Label names by id.</summary>
    public IReadOnlyList<string> Labels => Config.Id2Label;

    /// <summary>The text normalization the model was trained with (<c>nuansa_preprocessing</c> in its config), applied before tokenizing.</summary>
    public Data.TextPreprocessing Preprocessing { get; }

    /// <summary>The kind of head, and so of <see cref="Classification"/> the model gives.</summary>
    public HeadKind Head { get; }

    /// <summary>For a multi-task model, its tasks; null otherwise.</summary>
    public IReadOnlyList<TaskHead>? Tasks { get; }

    /// <summary>
    /// Loads a checkpoint folder — config, weights (safetensors or .bin) and tokenizer — or a Hub model id
    /// (<c>org/name[@revision]</c>) from the HF cache, downloading it first when needed (see <see cref="Hub.HubModels"/>).
    /// </summary>
    public static TextClassifier Load(string path, TextClassifierOptions? options = null)
    {
        options ??= new TextClassifierOptions();
        path = Hub.HubModels.Resolve(path);
        var config = ModelConfig.Load(path);
        var tasks = options.Tasks != null ? MultiTask.Validate(options.Tasks, config) : MultiTask.FromConfig(config);
        var tokenizer = Tokenizer.Load(path);
        var session = CreateSession(path, config, options);
        // Building the graph converted every weight into managed arrays (hundreds of megabytes for a base model),
        // garbage once ONNX Runtime holds the weights; a compacting collection hands that memory back to the system
        // instead of leaving it committed to the process (BERT-base in float32: 0.95 → 0.44 GB resident). Small
        // models are not worth a full collection of the host's heap.
        if (session.WeightBytes >= CollectAfterLoadBytes)
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        Int8Weights? form = options.Quantization == Quantization.Int8 ? Int8Kernels.Resolve(options.Int8Weights) : null;
        var classifier = new TextClassifier(path, config, tokenizer, session, tasks, form);
        options.Logger?.LogInformation("Loaded {Path}: {ModelType}, {Outputs} outputs ({Kind}), up to {MaxLength} tokens, {Precision}",
            path, config.ModelType, config.NumLabels, tasks != null ? $"{tasks.Count} tasks" : config.ProblemType ?? "single_label_classification", classifier.MaxLength, classifier.Precision);
        return classifier;
    }

    private const long CollectAfterLoadBytes = 64L << 20;

    private static OnnxSession CreateSession(string path, ModelConfig config, TextClassifierOptions options)
    {
        // The checkpoint is unmapped before ONNX Runtime reads the weights, so its pages and ORT's are not resident
        // at the same time.
        Graphs.Graph graph;
        using (var weights = WeightStore.Open(path))
            graph = SequenceClassifier.Build(config, weights, new GraphOptions { Quantization = options.Quantization, Int8Weights = options.Int8Weights, Fused = true });
        return new OnnxSession(graph, new SessionSettings { IntraOpThreads = options.Threads, AllowSpinning = options.AllowSpinning });
    }

    /// <summary><see cref="Load"/> off the calling thread (loading reads and converts every weight, and may download them).</summary>
    public static Task<TextClassifier> LoadAsync(string path, TextClassifierOptions? options = null, CancellationToken cancellationToken = default) =>
        Task.Run(() => Load(path, options), cancellationToken);

    /// <summary><see cref="Classify(string, ClassifyOptions?)"/> off the calling thread.</summary>
    public async Task<Classification> ClassifyAsync(string text, ClassifyOptions? options = null, CancellationToken cancellationToken = default) =>
        (await ClassifyBatchAsync([new TextInput(text)], options, cancellationToken).ConfigureAwait(false))[0];

    /// <summary><see cref="ClassifyBatch"/> off the calling thread; cancellation stops between batches.</summary>
    public Task<IReadOnlyList<Classification>> ClassifyBatchAsync(IReadOnlyList<TextInput> inputs, ClassifyOptions? options = null, CancellationToken cancellationToken = default) =>
        Task.Run(() => ClassifyBatch(inputs, options, null, cancellationToken), cancellationToken);

    /// <summary>
    /// Classifies a stream of inputs of any length (a file, a queue, a database cursor) a batch at a time
    /// (<see cref="ClassifyOptions.BatchSize"/> inputs), yielding results in input order as each batch is done.
    /// </summary>
    public async IAsyncEnumerable<Classification> ClassifyStreamAsync(IAsyncEnumerable<TextInput> inputs, ClassifyOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var size = (options ?? ClassifyOptions.Default).BatchSize;
        var chunk = new List<TextInput>(size);
        await foreach (var input in inputs.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            chunk.Add(input);
            if (chunk.Count < size)
                continue;
            foreach (var result in await ClassifyBatchAsync([.. chunk], options, cancellationToken).ConfigureAwait(false))
                yield return result;
            chunk.Clear();
        }
        if (chunk.Count > 0)
        {
            foreach (var result in await ClassifyBatchAsync([.. chunk], options, cancellationToken).ConfigureAwait(false))
                yield return result;
        }
    }

    /// <summary>Classifies one text.</summary>
    public Classification Classify(string text, ClassifyOptions? options = null) => ClassifyBatch([new TextInput(text)], options)[0];

    /// <summary>Classifies a text in a context (<c>[CLS] context [SEP] text [SEP]</c>).</summary>
    public Classification Classify(string context, string text, ClassifyOptions? options = null) =>
        ClassifyBatch([TextInput.WithContext(context, text)], options)[0];

    /// <summary>
    /// Classifies many inputs: they are tokenized, grouped by length into batches padded to their longest member,
    /// and the results come back in input order. <paramref name="progress"/> receives the number done so far.
    /// </summary>
    public IReadOnlyList<Classification> ClassifyBatch(IReadOnlyList<TextInput> inputs, ClassifyOptions? options = null,
        IProgress<int>? progress = null, CancellationToken cancellationToken = default)
    {
        options ??= ClassifyOptions.Default;
        if (options.BatchSize < 1)
            throw new ArgumentOutOfRangeException(nameof(options), "BatchSize must be at least 1.");
        if (options.MaxBatchTokens < 1)
            throw new ArgumentOutOfRangeException(nameof(options), "MaxBatchTokens must be at least 1 (or null for no limit).");
        if (inputs.Count == 0)
            return [];
        if (options.MaxLength > MaxLength)
            throw new NuansaException($"max length {options.MaxLength} is more than the {MaxLength} tokens {Path} takes.");
        if (options.LongText == LongText.Chunk)
            return ClassifyInWindows(inputs, options, progress, cancellationToken);
        var encodings = Encode(inputs, new EncodeOptions { MaxLength = options.MaxLength ?? MaxLength, Truncation = options.Truncation, TruncationSide = options.TruncationSide });
        // Without truncation an input can outgrow the position table; say which one instead of failing in the graph.
        for (var i = 0; i < encodings.Count; i++)
        {
            if (encodings[i].Length > MaxLength)
                throw new TokenizationException($"Input {i}: {encodings[i].Length} tokens, more than the {MaxLength} the model takes.", i);
        }
        var logits = ForwardAll(encodings, options, progress, cancellationToken);
        return [.. logits.Select(l => Score(l, options))];
    }

    // Every window of every input through the model in length-sorted batches, then one result per input from its
    // windows' logits (mean, max or first), scored as a single input's logits would be.
    private Classification[] ClassifyInWindows(IReadOnlyList<TextInput> inputs, ClassifyOptions options, IProgress<int>? progress, CancellationToken cancellationToken)
    {
        var maxLength = options.MaxLength ?? MaxLength;
        var windows = new IReadOnlyList<Tokenization.Encoding>[inputs.Count];
        for (var i = 0; i < inputs.Count; i++)
        {
            try
            {
                windows[i] = EncodeWindows(inputs[i], maxLength, options.Stride);
            }
            catch (TokenizationException e)
            {
                throw new TokenizationException($"Input {i}: {e.Message}", i);
            }
        }
        float[][] logits;
        try
        {
            logits = ForwardAll([.. windows.SelectMany(w => w)], options, null, cancellationToken);
        }
        catch (NonFiniteOutputException e)
        {
            var (input, before) = (0, 0);
            while (before + windows[input].Count <= e.Index)
                before += windows[input++].Count;
            throw new NonFiniteOutputException($"{Path}: the model's logits for window {e.Index - before + 1} of input {input + 1} are not finite numbers; its weights may be broken.", input);
        }
        var results = new Classification[inputs.Count];
        var next = 0;
        for (var i = 0; i < inputs.Count; i++)
        {
            results[i] = Combine(logits[next..(next + windows[i].Count)], options);
            next += windows[i].Count;
            progress?.Report(i + 1);
        }
        return results;
    }

    /// <summary>An input's windows (see <see cref="Tokenization.Tokenizer.EncodeWindows(string, string?, int, int, int)"/>), after the model's preprocessing.</summary>
    internal IReadOnlyList<Tokenization.Encoding> EncodeWindows(TextInput input, int maxLength, int stride, int maxWindows = int.MaxValue) =>
        Tokenizer.EncodeWindows(Preprocessing.Apply(input.Text), input.TextPair is { } pair ? Preprocessing.Apply(pair) : null, maxLength, stride, maxWindows);

    /// <summary>One input's result from its windows' logits, combined by <see cref="ClassifyOptions.Aggregate"/>; each window's own result kept.</summary>
    internal Classification Combine(IReadOnlyList<float[]> windowLogits, ClassifyOptions options)
    {
        var combined = new float[Config.NumLabels];
        for (var k = 0; k < combined.Length; k++)
        {
            combined[k] = options.Aggregate switch
            {
                WindowAggregate.First => windowLogits[0][k],
                WindowAggregate.Max => windowLogits.Max(w => w[k]),
                _ => windowLogits.Sum(w => w[k]) / windowLogits.Count,
            };
        }
        var scored = Score(combined, options);
        return scored.WithWindows([.. windowLogits.Select(w => Score(w, options))]);
    }

    // The logits of each encoding, run in batches of similar length.
    private float[][] ForwardAll(IReadOnlyList<Tokenization.Encoding> encodings, ClassifyOptions options, IProgress<int>? progress, CancellationToken cancellationToken)
    {
        var order = Enumerable.Range(0, encodings.Count).OrderBy(i => encodings[i].Length).ToArray();
        var results = new float[encodings.Count][];
        var labels = Config.NumLabels;
        foreach (var range in Batches([.. order.Select(i => encodings[i].Length)], options.BatchSize, options.MaxBatchTokens))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var batch = order[range];
            float[] logits;
            try
            {
                logits = Forward([.. batch.Select(i => encodings[i])]);
            }
            catch (NonFiniteOutputException e)
            {
                // Name the caller's input, not its place in a length-sorted batch.
                throw new NonFiniteOutputException($"{Path}: the model's logits for input {batch[e.Index] + 1} are not finite numbers; its weights may be broken.", batch[e.Index]);
            }
            for (var b = 0; b < batch.Length; b++)
                results[batch[b]] = logits.AsSpan(b * labels, labels).ToArray();
            progress?.Report(range.End.Value);
        }
        return results;
    }

    /// <summary>
    /// Splits inputs sorted shortest first (their lengths) into consecutive forward passes: at most
    /// <paramref name="maxBatch"/> inputs and <paramref name="maxTokens"/> token positions once padded to the pass's
    /// longest, its last (an input longer than that goes alone); with <paramref name="maxPadding"/>, a new pass also
    /// starts where padding would make it more than that many times its real tokens. Shared by ClassifyBatch and
    /// the <see cref="ClassificationQueue"/>, which batches many callers' encodings together.
    /// </summary>
    internal static IEnumerable<Range> Batches(IReadOnlyList<int> sortedLengths, int maxBatch, int? maxTokens, double? maxPadding = null)
    {
        var start = 0;
        long real = 0;
        for (var i = 0; i < sortedLengths.Count; i++)
        {
            var count = i - start + 1;
            var padded = (long)count * sortedLengths[i];
            if (count > maxBatch || (count > 1 && (padded > maxTokens || padded > maxPadding * (real + sortedLengths[i]))))
            {
                yield return start..i;
                start = i;
                real = 0;
            }
            real += sortedLengths[i];
        }
        if (start < sortedLengths.Count)
            yield return start..sortedLengths.Count;
    }

    /// <summary>Tokenizes inputs as the model expects them: its <see cref="Preprocessing"/> first, then its tokenizer.</summary>
    internal IReadOnlyList<Tokenization.Encoding> Encode(IReadOnlyList<TextInput> inputs, EncodeOptions options) =>
        Tokenizer.EncodeBatch([.. inputs.Select(i => (Preprocessing.Apply(i.Text), i.TextPair is { } pair ? Preprocessing.Apply(pair) : null))], options);

    /// <summary>The logits of already-encoded inputs, [count × num_labels], padded here to the longest.</summary>
    internal float[] Forward(IReadOnlyList<Tokenization.Encoding> batch)
    {
        var (ids, mask, types, length) = Tokenization.Encoding.Pack(batch, Tokenizer.PadTokenId);
        var inputs = new Dictionary<string, long[]> { ["input_ids"] = ids, ["attention_mask"] = mask };
        if (_tokenTypes)
            inputs["token_type_ids"] = types;
        var started = Stopwatch.GetTimestamp();
        var logits = _session.Run(inputs, [batch.Count, length], ["logits"])[0].Values;
        // A NaN or infinite logit would become a confident-looking score: refuse it here, the one way logits come out.
        if (!System.Numerics.Tensors.TensorPrimitives.IsFiniteAll<float>(logits))
        {
            var row = Array.FindIndex(logits, v => !float.IsFinite(v)) / Config.NumLabels;
            throw new NonFiniteOutputException($"{Path}: the model's logits for input {row + 1} of this batch are not finite numbers " +
                $"({string.Join(", ", logits.AsSpan(row * Config.NumLabels, Config.NumLabels).ToArray())}); its weights may be broken.", row);
        }
        NuansaMeter.Duration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, _tag);
        NuansaMeter.Inputs.Add(batch.Count, _tag);
        NuansaMeter.Tokens.Add((long)batch.Count * length, _tag);
        return logits;
    }

    /// <summary>
    /// The longest input the model takes, in tokens with the special ones: the tokenizer's <c>model_max_length</c>,
    /// capped by the position table (RoBERTa-family positions start after <c>padding_idx</c>).
    /// </summary>
    public int MaxLength { get; }

    /// <summary>Turns one input's logits (from <see cref="Forward"/>) into ranked label scores as <see cref="ClassifyBatch"/> does.</summary>
    internal Classification Score(float[] logits, ClassifyOptions? options = null)
    {
        options ??= ClassifyOptions.Default;
        if (logits.Length != Config.NumLabels)
            throw new ArgumentException($"Expected {Config.NumLabels} logits, got {logits.Length}.", nameof(logits));
        if (Tasks != null)
        {
            var tasks = new Dictionary<string, IReadOnlyList<LabelScore>>(StringComparer.Ordinal);
            var offset = 0;
            foreach (var task in Tasks)
            {
                var scores = Apply(logits.AsSpan(offset, task.Labels.Count).ToArray(), options.Function == ScoreFunction.Default ? ScoreFunction.Softmax : options.Function);
                tasks[task.Name] = Rank(task.Labels, scores, options.TopK);
                offset += task.Labels.Count;
            }
            return new MultiTaskClassification(tasks, logits);
        }
        var function = options.Function != ScoreFunction.Default ? options.Function
            // HF's pipeline: sigmoid for multi-label or a single output (unless declared regression), none for regression.
            : Config.Problem == Problem.MultiLabelClassification || (Config.NumLabels == 1 && Config.ProblemType != "regression") ? ScoreFunction.Sigmoid
            : Config.Problem == Problem.Regression ? ScoreFunction.None
            : ScoreFunction.Softmax;
        var ranked = Rank(Labels, Apply(logits, function), options.TopK);
        return Head == HeadKind.MultiLabel ? new MultiLabelClassification(ranked, logits) : new SingleLabelClassification(ranked, logits);
    }

    internal static float[] Apply(float[] logits, ScoreFunction function)
    {
        switch (function)
        {
            case ScoreFunction.Sigmoid:
                return [.. logits.Select(x => 1f / (1f + MathF.Exp(-x)))];
            case ScoreFunction.None:
                return [.. logits];
            default:
            {
                var max = logits.Max();
                var exp = logits.Select(x => Math.Exp(x - max)).ToArray();
                var sum = exp.Sum();
                return [.. exp.Select(e => (float)(e / sum))];
            }
        }
    }

    private static LabelScore[] Rank(IReadOnlyList<string> labels, float[] scores, int? topK)
    {
        var ranked = scores.Select((s, i) => new LabelScore(labels[i], s)).OrderByDescending(l => l.Score);
        return [.. topK is { } k ? ranked.Take(k) : ranked];
    }

    /// <summary>Frees the ONNX Runtime session.</summary>
    public void Dispose() => _session.Dispose();
}
