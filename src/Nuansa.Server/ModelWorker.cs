using System.Diagnostics;
using System.Threading.Channels;
using Nuansa.Inference;
using Nuansa.Tokenization;

namespace Nuansa.Server;

/// <summary>
/// One loaded model behind a queue. Requests wait in the queue; a single worker takes whatever is waiting (up to
/// <see cref="ServerOptions.MaxBatchSize"/> inputs), drops requests whose client has gone, runs the rest as
/// length-grouped forward passes and answers each, so concurrent small requests share a forward pass (dynamic
/// batching, as TEI does).
/// </summary>
internal sealed class ModelWorker : IAsyncDisposable
{
    private readonly Channel<WorkItem> _queue = Channel.CreateUnbounded<WorkItem>(new UnboundedChannelOptions { SingleReader = true });
    private readonly ServerOptions _options;
    private readonly Metrics _metrics;
    private readonly Task _loop;
    private int _inFlight;
    private int _queued;
    private long _lastSuccess;
    private long _lastFailure;
    private string? _lastError;

    public ModelWorker(string name, TextClassifier classifier, ServerOptions options, Metrics metrics)
    {
        Name = name;
        Classifier = classifier;
        _options = options;
        _metrics = metrics;
        metrics.Gauge("te_queue_size", name, () => Volatile.Read(ref _queued));
        _loop = Task.Run(RunAsync);
    }

    public string Name { get; }
    public TextClassifier Classifier { get; }

    /// <summary>Requests being handled for this model now (reading, tokenizing, queued or running).</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>Takes a slot for a request; false when <see cref="ServerOptions.MaxConcurrentRequests"/> are already in flight.</summary>
    public bool TryEnter()
    {
        if (Interlocked.Increment(ref _inFlight) <= _options.MaxConcurrentRequests)
            return true;
        Interlocked.Decrement(ref _inFlight);
        return false;
    }

    /// <summary>Gives the slot back once the request is answered.</summary>
    public void Exit() => Interlocked.Decrement(ref _inFlight);

    /// <summary>
    /// Queues encoded inputs. A request whose <paramref name="abandoned"/> token fires before its forward pass is
    /// dropped (its task is cancelled). Probes (health checks) stay out of the batch metrics.
    /// </summary>
    public Task<Classification[]> Enqueue(IReadOnlyList<Encoding> inputs, ClassifyOptions options, CancellationToken abandoned = default, bool probe = false)
    {
        var item = new WorkItem(inputs, options, abandoned, probe, Stopwatch.GetTimestamp(), new TaskCompletionSource<Classification[]>(TaskCreationOptions.RunContinuationsAsynchronously));
        Interlocked.Increment(ref _queued);
        if (!_queue.Writer.TryWrite(item))
        {
            Interlocked.Decrement(ref _queued);
            item.Result.TrySetException(new InvalidOperationException($"Model '{Name}' is shutting down."));
        }
        return item.Result.Task;
    }

    /// <summary>
    /// Whether the model answers, without waiting behind real work: healthy when a forward pass succeeded within
    /// <paramref name="recent"/> (or requests are being processed and the last pass did not fail); otherwise a short
    /// probe runs through the queue, which is then idle.
    /// </summary>
    public async Task<(bool Healthy, string? Error)> CheckHealthAsync(TimeSpan recent, TimeSpan timeout)
    {
        var success = Volatile.Read(ref _lastSuccess);
        var failure = Volatile.Read(ref _lastFailure);
        if (failure > success)
            return (false, _lastError);
        if (success != 0 && (Stopwatch.GetElapsedTime(success) < recent || Volatile.Read(ref _queued) > 0))
            return (true, null);
        try
        {
            var probe = Classifier.Encode([new TextInput("health check")], new EncodeOptions());
            await Enqueue(probe, ClassifyOptions.Default, probe: true).WaitAsync(timeout).ConfigureAwait(false);
            return (true, null);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return (false, e is TimeoutException ? $"no answer within {timeout.TotalSeconds:0} s" : e.Message);
        }
    }

    private async Task RunAsync()
    {
        var reader = _queue.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            // Take the first waiting request whatever its size, then more while they fit in one batch.
            var items = new List<WorkItem>();
            var count = 0;
            while (reader.TryPeek(out var next) && (items.Count == 0 || count + next.Inputs.Count <= _options.MaxBatchSize) && reader.TryRead(out next))
            {
                Interlocked.Decrement(ref _queued);
                // A client that has gone gets no forward pass.
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

    private void Process(List<WorkItem> items)
    {
        try
        {
            var measured = items.Any(i => !i.Probe);
            foreach (var item in items.Where(i => !i.Probe))
                _metrics.ObserveDuration("te_request_queue_duration", Name, Stopwatch.GetElapsedTime(item.Queued).TotalSeconds);
            var all = items.SelectMany((item, i) => item.Inputs.Select((encoding, j) => (Item: i, Index: j, Encoding: encoding)))
                .OrderBy(x => x.Encoding.Length).ToArray();
            var logits = items.Select(item => new float[item.Inputs.Count][]).ToArray();
            var labels = Classifier.Config.NumLabels;
            var clock = Stopwatch.StartNew();
            foreach (var batch in TextClassifier.Batches([.. all.Select(x => x.Encoding.Length)], _options.MaxBatchSize, _options.MaxBatchTokens, MaxPadding).Select(r => all[r]))
            {
                var output = Classifier.Forward([.. batch.Select(x => x.Encoding)]);
                for (var b = 0; b < batch.Length; b++)
                    logits[batch[b].Item][batch[b].Index] = output.AsSpan(b * labels, labels).ToArray();
                if (measured)
                {
                    _metrics.ObserveSize("te_batch_next_size", Name, batch.Length);
                    _metrics.ObserveTokens("te_batch_next_tokens", Name, batch.Sum(x => x.Encoding.Length));
                }
            }
            if (measured)
                _metrics.ObserveDuration("te_request_inference_duration", Name, clock.Elapsed.TotalSeconds);
            Volatile.Write(ref _lastSuccess, Stopwatch.GetTimestamp());
            for (var i = 0; i < items.Count; i++)
                items[i].Result.TrySetResult([.. logits[i].Select(l => Classifier.Score(l, items[i].Options))]);
        }
        catch (Exception e)
        {
            _lastError = e.Message;
            Volatile.Write(ref _lastFailure, Stopwatch.GetTimestamp());
            foreach (var item in items)
                item.Result.TrySetException(e);
        }
    }

    /// <summary>
    /// Requests of different lengths share a pass only while padding adds at most a fifth to its real tokens: on a CPU
    /// a padded token costs as much as a real one, so mixing short and long requests would slow both.
    /// </summary>
    internal const double MaxPadding = 1.2;

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _loop.ConfigureAwait(false);
        Classifier.Dispose();
    }

    private sealed record WorkItem(IReadOnlyList<Encoding> Inputs, ClassifyOptions Options, CancellationToken Abandoned, bool Probe, long Queued,
        TaskCompletionSource<Classification[]> Result);
}
