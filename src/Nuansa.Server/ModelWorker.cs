using System.Diagnostics;
using System.Threading.Channels;
using Nuansa.Inference;
using Nuansa.Tokenization;

namespace Nuansa.Server;

/// <summary>
/// One loaded model behind a queue. Requests wait in the queue; a single worker takes whatever is waiting (up to
/// <see cref="ServerOptions.MaxBatchSize"/> inputs), runs it as length-grouped forward passes and answers each
/// request, so concurrent small requests share a forward pass (dynamic batching, as TEI does).
/// </summary>
public sealed class ModelWorker : IAsyncDisposable
{
    private readonly Channel<WorkItem> _queue = Channel.CreateUnbounded<WorkItem>(new UnboundedChannelOptions { SingleReader = true });
    private readonly ServerOptions _options;
    private readonly Metrics _metrics;
    private readonly Task _loop;
    private int _pending;

    public ModelWorker(string name, TextClassifier classifier, ServerOptions options, Metrics metrics)
    {
        Name = name;
        Classifier = classifier;
        _options = options;
        _metrics = metrics;
        metrics.Gauge("nuansa_queue_size", name, () => Volatile.Read(ref _pending));
        _loop = Task.Run(RunAsync);
    }

    public string Name { get; }
    public TextClassifier Classifier { get; }

    /// <summary>
    /// Queues encoded inputs; null when the model already has its maximum of requests waiting or running, or is
    /// shutting down.
    /// </summary>
    public Task<Classification[]>? TryClassify(IReadOnlyList<Encoding> inputs, ClassifyOptions options)
    {
        if (Interlocked.Increment(ref _pending) > _options.MaxConcurrentRequests)
        {
            Interlocked.Decrement(ref _pending);
            return null;
        }
        var item = new WorkItem(inputs, options, new TaskCompletionSource<Classification[]>(TaskCreationOptions.RunContinuationsAsynchronously));
        if (!_queue.Writer.TryWrite(item))
        {
            Interlocked.Decrement(ref _pending);
            return null;
        }
        return item.Result.Task;
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
                items.Add(next);
                count += next.Inputs.Count;
            }
            Process(items);
        }
    }

    private void Process(List<WorkItem> items)
    {
        try
        {
            var all = items.SelectMany((item, i) => item.Inputs.Select((encoding, j) => (Item: i, Index: j, Encoding: encoding)))
                .OrderBy(x => x.Encoding.Length).ToArray();
            var logits = items.Select(item => new float[item.Inputs.Count][]).ToArray();
            var labels = Classifier.Config.NumLabels;
            var clock = Stopwatch.StartNew();
            foreach (var batch in PaddingAwareBatches(all.Select(x => x.Encoding.Length).ToArray(), _options.MaxBatchSize).Select(r => all[r]))
            {
                var output = Classifier.Forward([.. batch.Select(x => x.Encoding)]);
                for (var b = 0; b < batch.Length; b++)
                    logits[batch[b].Item][batch[b].Index] = output.AsSpan(b * labels, labels).ToArray();
                _metrics.ObserveSize("nuansa_batch_size", Name, batch.Length);
            }
            _metrics.ObserveDuration("nuansa_inference_duration_seconds", Name, clock.Elapsed.TotalSeconds);
            for (var i = 0; i < items.Count; i++)
                items[i].Result.TrySetResult([.. logits[i].Select(l => Classifier.Score(l, items[i].Options))]);
        }
        catch (Exception e)
        {
            foreach (var item in items)
                item.Result.TrySetException(e);
        }
        finally
        {
            Interlocked.Add(ref _pending, -items.Count);
        }
    }

    /// <summary>
    /// Splits inputs sorted by length into forward passes of at most <paramref name="maxBatch"/>, starting a new one
    /// when padding to the longer input would waste more than a fifth of the pass: on a CPU a padded token costs as
    /// much as a real one, so mixing short and long requests would slow both.
    /// </summary>
    internal static IEnumerable<Range> PaddingAwareBatches(int[] sortedLengths, int maxBatch)
    {
        var start = 0;
        long real = 0;
        for (var i = 0; i < sortedLengths.Length; i++)
        {
            var count = i - start + 1;
            var padded = (long)count * sortedLengths[i];
            if (count > maxBatch || (count > 1 && padded > 1.2 * (real + sortedLengths[i])))
            {
                yield return start..i;
                start = i;
                real = 0;
            }
            real += sortedLengths[i];
        }
        if (start < sortedLengths.Length)
            yield return start..sortedLengths.Length;
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _loop.ConfigureAwait(false);
        Classifier.Dispose();
    }

    private sealed record WorkItem(IReadOnlyList<Encoding> Inputs, ClassifyOptions Options, TaskCompletionSource<Classification[]> Result);
}
