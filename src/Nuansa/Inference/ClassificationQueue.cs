using System.Diagnostics;
using System.Threading.Channels;
using Nuansa.Tokenization;

namespace Nuansa.Inference;

/// <summary>Why a submission to a <see cref="ClassificationQueue"/> failed; each caller maps these to its wire once (HTTP status, stream error).</summary>
public enum FailureKind
{
    /// <summary>No input, or an empty one.</summary>
    Empty,

    /// <summary>An input the model cannot take as sent: too many characters, too many tokens without truncation, an encoding error.</summary>
    Validation,

    /// <summary>More than a limit allows: inputs per submission, windows of a long text.</summary>
    TooLarge,

    /// <summary>The queue is busy (submissions in flight, characters being tokenized): retry shortly.</summary>
    Overloaded,

    /// <summary>The forward pass failed (or gave NaN or infinite logits).</summary>
    Backend,

    /// <summary>The queue is shutting down.</summary>
    Unhealthy,
}

/// <summary>A submission the queue refused or could not answer, with the kind of failure.</summary>
public sealed class ClassificationFailedException : NuansaException
{
    /// <summary>A failure of <paramref name="kind"/> with a message for the caller's client.</summary>
    public ClassificationFailedException(FailureKind kind, string message, Exception? inner = null) : base(message, inner ?? new InvalidOperationException(message))
    {
        Kind = kind;
    }

    /// <summary>What went wrong, for the caller to map to a status.</summary>
    public FailureKind Kind { get; }
}

/// <summary>
/// Characters being tokenized at once, shared by the queues that should share it (one process's memory): a submission
/// takes its characters before tokenizing and gives them back after, and is refused (<see cref="FailureKind.Overloaded"/>)
/// when they would pass the capacity — so many huge requests at once cannot exhaust the memory others need.
/// </summary>
public sealed class CharacterBudget(long capacity)
{
    private long _inUse;

    /// <summary>The capacity in characters.</summary>
    public long Capacity { get; } = capacity > 0 ? capacity : throw new ArgumentOutOfRangeException(nameof(capacity));

    /// <summary>Characters being tokenized now.</summary>
    public long InUse => Interlocked.Read(ref _inUse);

    /// <summary>Takes <paramref name="chars"/> when they fit (one submission larger than the capacity fits only alone).</summary>
    public bool TryTake(long chars)
    {
        while (true)
        {
            var used = Interlocked.Read(ref _inUse);
            if (used > 0 && used + chars > Capacity)
                return false;
            if (Interlocked.CompareExchange(ref _inUse, used + chars, used) == used)
                return true;
        }
    }

    /// <summary>Whether <paramref name="chars"/> would fit now (without taking them): lets a caller refuse before reading a large body.</summary>
    public bool HasRoomFor(long chars) => InUse == 0 || InUse + chars <= Capacity;

    /// <summary>Gives back what <see cref="TryTake"/> took.</summary>
    public void Return(long chars) => Interlocked.Add(ref _inUse, -chars);
}

/// <summary>What a queue reports as it works, for metrics (the server's Prometheus series); every method may be left as is.</summary>
public abstract class ClassificationQueueObserver
{
    /// <summary>A submission was tokenized: how long it took and each encoding's length.</summary>
    public virtual void Tokenized(TimeSpan duration, IReadOnlyList<int> lengths) { }

    /// <summary>A submission waited this long before its forward passes began.</summary>
    public virtual void Queued(TimeSpan wait) { }

    /// <summary>A forward pass ran this many inputs and real tokens.</summary>
    public virtual void Batch(int inputs, int tokens) { }

    /// <summary>One round of forward passes (submissions batched together) took this long.</summary>
    public virtual void Inferred(TimeSpan duration) { }
}

/// <summary>The limits of a <see cref="ClassificationQueue"/>; defaults follow HF text-embeddings-inference (TEI).</summary>
public sealed record ClassificationQueueOptions
{
    /// <summary>Inputs per forward pass when submissions are batched together (TEI's <c>max_batch_requests</c>).</summary>
    public int MaxBatchSize { get; init; } = 32;

    /// <summary>Token positions per forward pass, padding included (TEI's <c>max_batch_tokens</c>); null: no limit.</summary>
    public int? MaxBatchTokens { get; init; } = ClassifyOptions.Default.MaxBatchTokens;

    /// <summary>Inputs one submission may hold (TEI's <c>max_client_batch_size</c>).</summary>
    public int MaxInputs { get; init; } = 32;

    /// <summary>Submissions in flight (tokenizing, queued or running) before new ones are refused as <see cref="FailureKind.Overloaded"/>.</summary>
    public int MaxConcurrent { get; init; } = 512;

    /// <summary>Characters one input (text and pair together) may hold, checked before tokenizing; null: TEI's rule, 250 per token of the model's limit.</summary>
    public int? MaxInputChars { get; init; }

    /// <summary>Windows one submission may make with <see cref="LongText.Chunk"/>, counted before any is built.</summary>
    public int MaxWindows { get; init; } = 64;

    /// <summary>Characters being tokenized at once; share one budget between queues to bound a process. Null: a budget of <see cref="DefaultTokenizingChars"/> for this queue.</summary>
    public CharacterBudget? Tokenizing { get; init; }

    /// <summary>Receives timings and sizes for metrics.</summary>
    public ClassificationQueueObserver? Observer { get; init; }

    /// <summary>The default tokenizing budget: two submissions of the largest size TEI's rule allows for a 512-token model (32 × 128,000 characters).</summary>
    public const long DefaultTokenizingChars = 8_192_000;
}

/// <summary>
/// The one inference path every caller submits to (in the spirit of TEI's core queue): it checks a submission's limits
/// before any work, tokenizes it off the caller's thread under a shared character budget, cuts long texts into windows,
/// batches the encodings of every waiting submission into length-sorted forward passes under a token budget, drops the
/// work of callers that left, scores and combines windows, and fails with a typed <see cref="ClassificationFailedException"/>.
/// Health follows from the passes it runs. The server, the Redis worker and applications call it; nothing re-implements it.
/// </summary>
public sealed class ClassificationQueue : IAsyncDisposable
{
    private readonly Channel<WorkItem> _channel = Channel.CreateUnbounded<WorkItem>(new UnboundedChannelOptions { SingleReader = true });
    private readonly ClassificationQueueOptions _options;
    private readonly CharacterBudget _tokenizing;
    private readonly ClassificationQueueObserver _observer;
    private readonly Task _loop;
    private readonly bool _ownsClassifier;
    private readonly SemaphoreSlim _tokenizers = new(Math.Max(1, Environment.ProcessorCount / 2));
    private int _inFlight;
    private int _queued;
    private bool _busy;
    private long _lastSuccess;
    private long _lastFailure;
    private string? _lastError;

    /// <param name="classifier">The model; disposed with the queue when <paramref name="ownsClassifier"/>.</param>
    /// <param name="options">Limits; null for the defaults.</param>
    /// <param name="ownsClassifier">Whether disposing the queue disposes the classifier.</param>
    public ClassificationQueue(TextClassifier classifier, ClassificationQueueOptions? options = null, bool ownsClassifier = true)
    {
        _options = options ?? new ClassificationQueueOptions();
        if (_options.MaxBatchSize < 1 || _options.MaxInputs < 1 || _options.MaxConcurrent < 1 || _options.MaxWindows < 1 || _options.MaxBatchTokens < 1 || _options.MaxInputChars < 1)
            throw new ArgumentOutOfRangeException(nameof(options), "Batch sizes, the token limit and every count limit must be at least 1.");
        Classifier = classifier;
        _ownsClassifier = ownsClassifier;
        _tokenizing = _options.Tokenizing ?? new CharacterBudget(ClassificationQueueOptions.DefaultTokenizingChars);
        _observer = _options.Observer ?? new NoObserver();
        // Forward passes block for seconds: they get a thread of their own, not one the thread pool needs for requests.
        _loop = Task.Factory.StartNew(Run, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    /// <summary>The model behind the queue.</summary>
    public TextClassifier Classifier { get; }

    /// <summary>The limits in force.</summary>
    public ClassificationQueueOptions Options => _options;

    /// <summary>Characters one input may hold: the configured limit, else 250 per token of the model's limit.</summary>
    public int MaxInputChars => _options.MaxInputChars ?? Classifier.MaxLength * 250;

    /// <summary>The budget of characters being tokenized this queue takes from.</summary>
    public CharacterBudget Tokenizing => _tokenizing;

    /// <summary>Submissions in flight now (tokenizing, queued or running).</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>Submissions waiting for their forward passes.</summary>
    public int QueueSize => Volatile.Read(ref _queued);

    /// <summary>
    /// Classifies <paramref name="inputs"/> as <see cref="TextClassifier.ClassifyBatch"/> would, batched with whatever else is
    /// waiting. <paramref name="abandoned"/> is the caller leaving: its tokenizing stops and its forward passes are dropped.
    /// </summary>
    /// <exception cref="ClassificationFailedException">A limit was passed or the model failed; <see cref="ClassificationFailedException.Kind"/> says which.</exception>
    public async Task<Classification[]> ClassifyAsync(IReadOnlyList<TextInput> inputs, ClassifyOptions? options = null, CancellationToken abandoned = default)
    {
        options ??= ClassifyOptions.Default;
        Check(inputs);
        if (Interlocked.Increment(ref _inFlight) > _options.MaxConcurrent)
        {
            Interlocked.Decrement(ref _inFlight);
            throw new ClassificationFailedException(FailureKind.Overloaded, $"Model queue is overloaded: {_options.MaxConcurrent} requests in flight; retry shortly.");
        }
        try
        {
            var chars = inputs.Sum(i => (long)i.Text.Length + (i.TextPair?.Length ?? 0));
            if (!_tokenizing.TryTake(chars))
            {
                throw new ClassificationFailedException(FailureKind.Overloaded,
                    $"Too many characters are being tokenized ({_tokenizing.InUse} of {_tokenizing.Capacity}); retry shortly.");
            }
            IReadOnlyList<Encoding>[] windows;
            try
            {
                // Tokenizing is CPU work: at most one submission per core at a time, the rest wait without holding a thread.
                await _tokenizers.WaitAsync(abandoned).ConfigureAwait(false);
                try
                {
                    windows = await Task.Run(() => Encode(inputs, options, abandoned), abandoned).ConfigureAwait(false);
                }
                finally
                {
                    _tokenizers.Release();
                }
            }
            finally
            {
                _tokenizing.Return(chars);
            }
            var logits = await EnqueueAsync([.. windows.SelectMany(w => w)], abandoned).ConfigureAwait(false);
            var results = new Classification[inputs.Count];
            var next = 0;
            for (var i = 0; i < inputs.Count; i++)
            {
                results[i] = options.LongText == LongText.Chunk
                    ? Classifier.Combine(logits[next..(next + windows[i].Count)], options)
                    : Classifier.Score(logits[next], options);
                next += windows[i].Count;
            }
            return results;
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }

    /// <summary>Encodings into the queue; their logits once their forward passes ran.</summary>
    internal Task<float[][]> EnqueueAsync(IReadOnlyList<Encoding> encodings, CancellationToken abandoned)
    {
        var item = new WorkItem(encodings, abandoned, Stopwatch.GetTimestamp(), new TaskCompletionSource<float[][]>(TaskCreationOptions.RunContinuationsAsynchronously));
        Interlocked.Increment(ref _queued);
        if (!_channel.Writer.TryWrite(item))
        {
            Interlocked.Decrement(ref _queued);
            throw new ClassificationFailedException(FailureKind.Unhealthy, "The model is shutting down.");
        }
        return item.Result.Task;
    }

    private void Check(IReadOnlyList<TextInput> inputs) => CheckLimits(inputs, _options.MaxInputs, MaxInputChars);

    /// <summary>
    /// The limits that need no tokenizing, as TEI checks them: at least one input and at most <paramref name="maxInputs"/>,
    /// none empty, none over <paramref name="maxChars"/> characters. For callers that run inputs another way (pipelines).
    /// </summary>
    public static void CheckLimits(IReadOnlyList<TextInput> inputs, int maxInputs, int maxChars)
    {
        if (inputs.Count == 0)
            throw new ClassificationFailedException(FailureKind.Empty, "`inputs` cannot be empty");
        if (inputs.Count > maxInputs)
            throw new ClassificationFailedException(FailureKind.TooLarge, $"batch size {inputs.Count} > maximum allowed batch size {maxInputs}");
        foreach (var input in inputs)
        {
            if (input.Text.Length == 0 && string.IsNullOrEmpty(input.TextPair))
                throw new ClassificationFailedException(FailureKind.Empty, "`inputs` cannot be empty");
            var chars = input.Text.Length + (input.TextPair?.Length ?? 0);
            if (chars > maxChars)
                throw new ClassificationFailedException(FailureKind.Validation, $"`inputs` must have less than {maxChars} characters. Given: {chars}");
        }
    }

    // Each input's encodings (one, or its windows), checked against the model's length and the window limit; stops when the caller leaves.
    private IReadOnlyList<Encoding>[] Encode(IReadOnlyList<TextInput> inputs, ClassifyOptions options, CancellationToken abandoned)
    {
        var clock = Stopwatch.StartNew();
        var maxLength = options.MaxLength ?? Classifier.MaxLength;
        if (maxLength > Classifier.MaxLength)
            throw new ClassificationFailedException(FailureKind.Validation, $"max length {maxLength} is more than the {Classifier.MaxLength} tokens the model takes.");
        var encodeOptions = new EncodeOptions { MaxLength = maxLength, Truncation = options.Truncation, TruncationSide = options.TruncationSide };
        var result = new IReadOnlyList<Encoding>[inputs.Count];
        var windows = 0;
        try
        {
            for (var i = 0; i < inputs.Count; i++)
            {
                abandoned.ThrowIfCancellationRequested();
                if (options.LongText == LongText.Chunk)
                {
                    result[i] = Classifier.EncodeWindows(inputs[i], maxLength, options.Stride, _options.MaxWindows - windows);
                    windows += result[i].Count;
                    continue;
                }
                var encoding = Classifier.Encode([inputs[i]], encodeOptions)[0];
                if (encoding.Length > Classifier.MaxLength)
                {
                    throw new ClassificationFailedException(FailureKind.Validation,
                        $"`inputs` must have less than {Classifier.MaxLength} tokens. Given: {encoding.Length} (input {i}); allow truncation (\"truncate\": true) to cut it.");
                }
                result[i] = [encoding];
            }
        }
        catch (InputTooLargeException e)
        {
            throw new ClassificationFailedException(FailureKind.TooLarge, $"{e.Message} The limit is {_options.MaxWindows} windows a request; a longer stride's step (or a shorter text) makes fewer.", e);
        }
        catch (TokenizationException e)
        {
            throw new ClassificationFailedException(FailureKind.Validation, e.Message, e);
        }
        _observer.Tokenized(clock.Elapsed, [.. result.SelectMany(w => w).Select(e => e.Length)]);
        return result;
    }

    /// <summary>
    /// Whether the model answers, without waiting behind real work: healthy while it runs or holds work and its last
    /// pass did not fail, or when a pass succeeded within <paramref name="recent"/>; otherwise one tiny probe pass runs
    /// beside the queue (never behind a long submission). A model whose last pass failed is unhealthy until one succeeds.
    /// </summary>
    public async Task<(bool Healthy, string? Error)> CheckHealthAsync(TimeSpan recent, TimeSpan timeout)
    {
        var success = Volatile.Read(ref _lastSuccess);
        var failure = Volatile.Read(ref _lastFailure);
        if (failure > success)
            return (false, _lastError);
        if (Volatile.Read(ref _busy) || QueueSize > 0 || (success != 0 && Stopwatch.GetElapsedTime(success) < recent))
            return (true, null);
        try
        {
            var probe = Classifier.Encode([new TextInput("health check")], new EncodeOptions());
            await Task.Run(() => Classifier.Forward(probe)).WaitAsync(timeout).ConfigureAwait(false);
            Volatile.Write(ref _lastSuccess, Stopwatch.GetTimestamp());
            return (true, null);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            if (e is not TimeoutException)
            {
                _lastError = e.Message;
                Volatile.Write(ref _lastFailure, Stopwatch.GetTimestamp());
            }
            return (false, e is TimeoutException ? $"no answer within {timeout.TotalSeconds:0} s" : e.Message);
        }
    }

    private void Run()
    {
        var reader = _channel.Reader;
        while (reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
        {
            // The first waiting submission whatever its size, then more while they fit in one batch.
            var items = new List<WorkItem>();
            var count = 0;
            while (reader.TryPeek(out var next) && (items.Count == 0 || count + next.Inputs.Count <= _options.MaxBatchSize) && reader.TryRead(out next))
            {
                Interlocked.Decrement(ref _queued);
                if (next.Abandoned.IsCancellationRequested)
                {
                    next.Result.TrySetCanceled(next.Abandoned);
                    continue;
                }
                items.Add(next);
                count += next.Inputs.Count;
            }
            if (items.Count > 0)
                Process(items);
        }
    }

    /// <summary>
    /// Submissions of different lengths share a pass only while padding adds at most a fifth to its real tokens: on a CPU
    /// a padded token costs as much as a real one, so mixing short and long submissions would slow both.
    /// </summary>
    internal const double MaxPadding = 1.2;

    private void Process(List<WorkItem> items)
    {
        Volatile.Write(ref _busy, true);
        try
        {
            foreach (var item in items)
                _observer.Queued(Stopwatch.GetElapsedTime(item.Queued));
            var all = items.SelectMany((item, i) => item.Inputs.Select((encoding, j) => (Item: i, Index: j, Encoding: encoding)))
                .OrderBy(x => x.Encoding.Length).ToArray();
            var logits = items.Select(item => new float[item.Inputs.Count][]).ToArray();
            var labels = Classifier.Config.NumLabels;
            var clock = Stopwatch.StartNew();
            foreach (var range in TextClassifier.Batches([.. all.Select(x => x.Encoding.Length)], _options.MaxBatchSize, _options.MaxBatchTokens, MaxPadding))
            {
                // The work of callers that left stops here, between passes (a long text's windows can take many).
                var batch = all[range].Where(x => !items[x.Item].Abandoned.IsCancellationRequested).ToArray();
                if (batch.Length == 0)
                    continue;
                var output = Classifier.Forward([.. batch.Select(x => x.Encoding)]);
                for (var b = 0; b < batch.Length; b++)
                    logits[batch[b].Item][batch[b].Index] = output.AsSpan(b * labels, labels).ToArray();
                _observer.Batch(batch.Length, batch.Sum(x => x.Encoding.Length));
            }
            _observer.Inferred(clock.Elapsed);
            Volatile.Write(ref _lastSuccess, Stopwatch.GetTimestamp());
            for (var i = 0; i < items.Count; i++)
            {
                if (items[i].Abandoned.IsCancellationRequested)
                    items[i].Result.TrySetCanceled(items[i].Abandoned);
                else
                    items[i].Result.TrySetResult(logits[i]);
            }
        }
        catch (Exception e)
        {
            _lastError = e.Message;
            Volatile.Write(ref _lastFailure, Stopwatch.GetTimestamp());
            var failure = new ClassificationFailedException(FailureKind.Backend, $"Inference failed: {e.Message}", e);
            foreach (var item in items)
                item.Result.TrySetException(failure);
        }
        finally
        {
            Volatile.Write(ref _busy, false);
        }
    }

    /// <summary>Stops taking submissions, finishes those queued, and disposes the classifier if the queue owns it.</summary>
    public async ValueTask DisposeAsync()
    {
        _channel.Writer.TryComplete();
        await _loop.ConfigureAwait(false);
        if (_ownsClassifier)
            Classifier.Dispose();
    }

    private sealed class NoObserver : ClassificationQueueObserver;

    private sealed record WorkItem(IReadOnlyList<Encoding> Inputs, CancellationToken Abandoned, long Queued, TaskCompletionSource<float[][]> Result);
}
