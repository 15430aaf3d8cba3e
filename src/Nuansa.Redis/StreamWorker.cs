using System.Diagnostics;
using System.Diagnostics.Metrics;
using Nuansa.Inference;
using StackExchange.Redis;

namespace Nuansa.Redis;

/// <summary>Where a worker reads and writes, and how it treats slow or failing entries.</summary>
public sealed record StreamWorkerOptions
{
    /// <summary><c>redis://host:port[/db]</c> (or StackExchange.Redis's own configuration string).</summary>
    public required string Redis { get; init; }
    /// <summary>The stream the requests arrive on (XADD by producers).</summary>
    public required string Stream { get; init; }

    /// <summary>The consumer group the workers share; each entry goes to one of them (XREADGROUP).</summary>
    public required string Group { get; init; }

    /// <summary>This worker's name in the group (default: host name and process id).</summary>
    public string Consumer { get; init; } = $"{Environment.MachineName}-{Environment.ProcessId}";

    /// <summary>Where results go (default: <c>{stream}:results</c>).</summary>
    public string? OutputStream { get; init; }

    /// <summary>Entries read at once and classified in one call.</summary>
    public int BatchSize { get; init; } = 32;

    /// <summary>How long to wait before asking again when the stream has nothing new.</summary>
    public int BlockMilliseconds { get; init; } = 200;

    /// <summary>Entries pending (read, never acknowledged) this long are taken over from their consumer, dead or slow.</summary>
    public int ClaimIdleMilliseconds { get; init; } = 60_000;

    /// <summary>An entry delivered this many times without success goes to the dead-letter stream.</summary>
    public int MaxDeliveries { get; init; } = 5;

    /// <summary>
    /// The largest entry taken, in bytes of its field names and values; a larger one goes to the dead letters unread
    /// (a producer's mistake must not hold a worker's memory). 1 MB by default.
    /// </summary>
    public long MaxEntryBytes { get; init; } = 1 << 20;

    /// <summary>Where failed entries go with their error (default: <c>{stream}:dead</c>).</summary>
    public string? DeadLetterStream { get; init; }

    /// <summary>How long the record that an input id has its result is kept (redeliveries within it are not classified twice).</summary>
    public TimeSpan DoneRecordLifetime { get; init; } = TimeSpan.FromDays(7);

    /// <summary>Model name written with each result.</summary>
    public string Model { get; init; } = "";

    /// <summary>Where results go: the output stream given, else <c>&lt;stream&gt;:results</c>.</summary>
    public string Output => OutputStream ?? $"{Stream}:results";

    /// <summary>Where entries that failed every delivery go: the dead-letter stream given, else <c>&lt;stream&gt;:dead</c>.</summary>
    public string DeadLetters => DeadLetterStream ?? $"{Stream}:dead";

    /// <summary>Fails with one clear message when <see cref="Redis"/> is not a Redis address (checked before any work).</summary>
    public void Validate() => Configuration();

    /// <summary>The StackExchange.Redis configuration for <see cref="Redis"/>: redis:// URLs are translated.</summary>
    internal ConfigurationOptions Configuration()
    {
        var text = Redis;
        if (text.StartsWith("redis://", StringComparison.Ordinal))
        {
            if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Host.Length == 0)
                throw new NuansaException($"--redis '{Redis}' is not a Redis URL: write redis://host:port[/db] (or host:port).");
            var db = uri.AbsolutePath.Trim('/') is { Length: > 0 } path && int.TryParse(path, out var n) ? n : 0;
            text = $"{uri.Host}:{(uri.Port > 0 ? uri.Port : 6379)},defaultDatabase={db}";
            if (uri.UserInfo is { Length: > 0 } user)
                text += user.Contains(':', StringComparison.Ordinal) ? $",user={Uri.UnescapeDataString(user.Split(':')[0])},password={Uri.UnescapeDataString(user.Split(':')[1])}" : $",password={Uri.UnescapeDataString(user)}";
        }
        ConfigurationOptions options;
        try
        {
            options = ConfigurationOptions.Parse(text);
        }
        catch (ArgumentException e)
        {
            throw new NuansaException($"--redis '{Redis}' is not a Redis address ({e.Message.Split(" (Parameter", 2)[0]}): write redis://host:port[/db] (or host:port).");
        }
        if (options.EndPoints.Count == 0 || Redis.Contains("://", StringComparison.Ordinal) && !Redis.StartsWith("redis://", StringComparison.Ordinal))
            throw new NuansaException($"--redis '{Redis}' names no Redis server: write redis://host:port[/db] (or host:port).");
        // Keep trying while Redis restarts; every command failure is retried by the loop.
        options.AbortOnConnectFail = false;
        options.ConnectRetry = 5;
        return options;
    }
}

/// <summary>
/// A classification worker on a Redis Streams consumer group: any number of them, on any machines, share one input
/// stream. Each reads entries in batches (<c>XREADGROUP</c>), classifies them in one call, and for every entry writes
/// its result and acknowledges it in one <c>MULTI</c>/<c>EXEC</c> guarded by an idempotency record keyed by the input
/// id, so each input gets exactly one result even when a worker dies between steps or an entry is delivered twice.
/// Entries a dead worker left pending are taken over with <c>XAUTOCLAIM</c>; one that failed <c>MaxDeliveries</c>
/// times goes to the dead-letter stream with its error.
/// </summary>
public sealed class StreamWorker
{
    private static readonly Meter Meter = new("Nuansa.Worker");
    private static readonly Counter<long> ProcessedCounter = Meter.CreateCounter<long>("nuansa_worker_processed", description: "entries classified and acknowledged");
    private static readonly Counter<long> FailedCounter = Meter.CreateCounter<long>("nuansa_worker_failed", description: "entries that failed (left pending for another delivery)");
    private static readonly Counter<long> RedeliveredCounter = Meter.CreateCounter<long>("nuansa_worker_redelivered", description: "entries taken over from another consumer");
    private static readonly Counter<long> DeadCounter = Meter.CreateCounter<long>("nuansa_worker_dead_lettered", description: "entries moved to the dead-letter stream");

    private readonly TextClassifier _classifier;
    private readonly StreamWorkerOptions _options;
    // The library's inference core, as the server uses it, for the length of a run.
    private ClassificationQueue _queue = null!;
    private readonly Action<string> _log;
    // One gauge per process (an instrument per worker would register duplicates): the lag the last report read.
    private static long _lag;
    private static readonly ObservableGauge<long> LagGauge = Meter.CreateObservableGauge("nuansa_worker_lag", () => Volatile.Read(ref _lag),
        description: "entries in the stream not yet delivered to the group (XINFO GROUPS lag; -1 while Redis does not know it)");

    /// <summary>A worker classifying with <paramref name="classifier"/>; <paramref name="log"/> receives one line per event worth knowing (reconnects, dead letters).</summary>
    public StreamWorker(TextClassifier classifier, StreamWorkerOptions options, Action<string>? log = null)
    {
        if (options.BatchSize < 1 || options.MaxDeliveries < 1 || options.ClaimIdleMilliseconds < 0 || options.BlockMilliseconds < 0)
            throw new NuansaException("Batch size and max deliveries must be at least 1; idle and block times at least 0.");
        _classifier = classifier;
        _options = options;
        _log = log ?? (_ => { });
    }

    // Entries of a batch complete concurrently: counts change atomically.
    private long _processed;
    private long _failed;
    private long _redelivered;
    private long _deadLettered;

    /// <summary>Entries answered with a result.</summary>
    public long Processed => Interlocked.Read(ref _processed);

    /// <summary>Entries answered with an error (bad input).</summary>
    public long Failed => Interlocked.Read(ref _failed);

    /// <summary>Entries claimed from a worker that stopped before acknowledging them.</summary>
    public long Redelivered => Interlocked.Read(ref _redelivered);

    /// <summary>Entries moved to <see cref="StreamWorkerOptions.DeadLetters"/> after their last delivery.</summary>
    public long DeadLettered => Interlocked.Read(ref _deadLettered);

    /// <summary>
    /// Works until <paramref name="stop"/> fires: the batch in hand is finished and acknowledged first. Lost
    /// connections are retried with doubling waits (Redis restarting), never dropped.
    /// </summary>
    public async Task RunAsync(CancellationToken stop)
    {
        // Entries are at most MaxEntryBytes, which bounds their characters too.
        await using var queue = _queue = new ClassificationQueue(_classifier, new ClassificationQueueOptions
        {
            MaxInputs = _options.BatchSize,
            MaxBatchSize = _options.BatchSize,
            MaxInputChars = (int)Math.Min(int.MaxValue, _options.MaxEntryBytes),
        }, ownsClassifier: false);
        await using var redis = await ConnectionMultiplexer.ConnectAsync(_options.Configuration()).ConfigureAwait(false);
        var db = redis.GetDatabase();
        var backoff = TimeSpan.FromMilliseconds(100);
        Stopwatch? outage = null;
        var lastReport = Stopwatch.StartNew();
        var groupReady = false;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                if (!groupReady)
                {
                    await EnsureGroup(db).ConfigureAwait(false);
                    groupReady = true;
                }
                // Entries idle too long (their consumer died or hangs) first, then new ones.
                var claimed = await db.StreamAutoClaimAsync(_options.Stream, _options.Group, _options.Consumer, _options.ClaimIdleMilliseconds, "0-0", _options.BatchSize).ConfigureAwait(false);
                var entries = claimed.ClaimedEntries.Where(e => !e.IsNull).ToArray();
                var redelivered = entries.Length > 0;
                if (!redelivered)
                    entries = await db.StreamReadGroupAsync(_options.Stream, _options.Group, _options.Consumer, ">", _options.BatchSize).ConfigureAwait(false);
                if (entries.Length == 0)
                {
                    await Task.Delay(_options.BlockMilliseconds, stop).ConfigureAwait(false);
                }
                else
                {
                    if (redelivered)
                    {
                        Interlocked.Add(ref _redelivered, entries.Length);
                        RedeliveredCounter.Add(entries.Length);
                    }
                    await Process(db, entries, redelivered).ConfigureAwait(false);
                }
                backoff = TimeSpan.FromMilliseconds(100);
                if (outage != null)
                {
                    _log($"redis back after {outage.Elapsed.TotalSeconds:0.0} s");
                    outage = null;
                }
                if (lastReport.Elapsed > TimeSpan.FromSeconds(10))
                {
                    await Report(db).ConfigureAwait(false);
                    lastReport.Restart();
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (e is not OperationCanceledException || !stop.IsCancellationRequested)
            {
                // Redis is restarting, loading its data, lost the group, or answered in some other transient way: a
                // worker never dies of it (its entries stay pending for it or another); wait, then carry on.
                groupReady = false;
                // One short line when an outage starts (StackExchange.Redis messages run to a thousand characters), one when it ends.
                if (outage == null)
                {
                    outage = Stopwatch.StartNew();
                    _log($"redis unavailable ({e.GetType().Name}: {Short(e.Message)}); retrying every 0.1–5 s");
                }
                try
                {
                    await Task.Delay(backoff, stop).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
                backoff = TimeSpan.FromMilliseconds(Math.Min(backoff.TotalMilliseconds * 2, 5000));
            }
        }
        await Report(db).ConfigureAwait(false);
    }

    // The start of a StackExchange.Redis message: its first 120 characters say what happened; the rest is diagnostics.
    private static string Short(string message)
    {
        var first = message.Split('\n')[0];
        return first.Length > 120 ? first[..120] + "…" : first;
    }

    private async Task EnsureGroup(IDatabase db)
    {
        try
        {
            // From the start of the stream: entries added before the first worker came are classified too.
            await db.StreamCreateConsumerGroupAsync(_options.Stream, _options.Group, "0-0", createStream: true).ConfigureAwait(false);
        }
        catch (RedisServerException e) when (e.Message.StartsWith("BUSYGROUP", StringComparison.Ordinal))
        {
            // Another worker made it.
        }
    }

    private async Task Process(IDatabase db, StreamEntry[] entries, bool redelivered)
    {
        // Delivery counts matter only for entries seen before.
        var deliveries = new Dictionary<string, int>(StringComparer.Ordinal);
        if (redelivered)
        {
            foreach (var e in entries)
            {
                var info = await db.StreamPendingMessagesAsync(_options.Stream, _options.Group, 1, RedisValue.Null, e.Id, e.Id).ConfigureAwait(false);
                deliveries[e.Id!] = info.Length > 0 ? info[0].DeliveryCount : 1;
            }
        }
        var valid = new List<(StreamEntry Entry, string Id, TextInput Input)>();
        var pending = new List<Task>();
        foreach (var e in entries)
        {
            var id = e["id"].HasValue ? (string)e["id"]! : (string)e.Id!;
            var (text, pair, context) = (Field(e, "text"), Field(e, "text_pair"), Field(e, "context"));
            // HF's meaning of text_pair ([CLS] text [SEP] text_pair [SEP]) or an explicit context ([CLS] context [SEP] text [SEP]); never both.
            var size = e.Values.Sum(v => (long)((byte[]?)v.Name ?? []).Length + ((byte[]?)v.Value ?? []).Length);
            // A malformed entry cannot succeed on another delivery: it goes to the dead letters at once.
            string? invalid = size > _options.MaxEntryBytes ? $"the entry holds {size} bytes, over the limit of {_options.MaxEntryBytes}"
                : text == null ? "the entry has no \"text\" field"
                : pair != null && context != null ? "the entry has both \"text_pair\" and \"context\"; give one (context comes first: [CLS] context [SEP] text [SEP])"
                : null;
            var input = context != null ? TextInput.WithContext(context, text!) : new TextInput(text ?? "", pair);
            try
            {
                if (invalid == null)
                    ClassificationQueue.CheckLimits([input], 1, _queue.MaxInputChars);
            }
            catch (ClassificationFailedException limit)
            {
                invalid = limit.Message;
            }
            var count = deliveries.GetValueOrDefault(e.Id!, 1);
            if (invalid != null || count > _options.MaxDeliveries)
            {
                pending.Add(DeadLetter(db, e, id, invalid ?? await LastError(db, e.Id!).ConfigureAwait(false) ?? "failed on every delivery", count));
                continue;
            }
            valid.Add((e, id, input));
        }
        if (valid.Count > 0)
        {
            IReadOnlyList<Classification>? results = null;
            string? failure = null;
            try
            {
                results = await _queue.ClassifyAsync([.. valid.Select(v => v.Input)], new ClassifyOptions { TopK = null }).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is NuansaException or InvalidOperationException)
            {
                failure = ex.Message;
            }
            if (results == null)
            {
                // One bad input fails the batch: each is tried alone so only the bad one stays pending.
                foreach (var v in valid)
                {
                    try
                    {
                        pending.Add(Complete(db, v.Entry, v.Id, (await _queue.ClassifyAsync([v.Input], new ClassifyOptions { TopK = null }).ConfigureAwait(false))[0]));
                    }
                    catch (Exception ex) when (ex is NuansaException or InvalidOperationException)
                    {
                        pending.Add(Fail(db, v.Entry, ex.Message ?? failure ?? "classification failed"));
                    }
                }
            }
            else
            {
                for (var i = 0; i < valid.Count; i++)
                    pending.Add(Complete(db, valid[i].Entry, valid[i].Id, results[i]));
            }
        }
        await Task.WhenAll(pending).ConfigureAwait(false);
    }

    // A field's text: null when the entry has no such field, "" for an empty one (the indexer reads both as missing).
    private static string? Field(StreamEntry entry, string name)
    {
        foreach (var v in entry.Values)
        {
            if (v.Name == name)
                return (string?)v.Value ?? "";
        }
        return null;
    }

    // Result and acknowledgement in one transaction, once per input id: a redelivered entry whose result exists is only
    // acknowledged. The acknowledgement alone is itself conditional on the done record: a transaction that did not
    // run is not proof that another one wrote the result (seen once in a test that restarts Redis: an input was
    // acknowledged without a result), and an entry left pending is only claimed and classified again.
    private async Task Complete(IDatabase db, StreamEntry entry, string id, Classification result)
    {
        var done = $"{_options.Stream}:done:{_options.Group}:{id}";
        var transaction = db.CreateTransaction();
        transaction.AddCondition(Condition.KeyNotExists(done));
        _ = transaction.StreamAddAsync(_options.Output, [new("id", id), new("labels", ClassificationJson.ToJson(result)), new("model", _options.Model)]);
        _ = transaction.StringSetAsync(done, 1, _options.DoneRecordLifetime);
        _ = transaction.StreamAcknowledgeAsync(_options.Stream, _options.Group, entry.Id);
        _ = transaction.HashDeleteAsync(ErrorsKey, entry.Id);
        if (!await transaction.ExecuteAsync().ConfigureAwait(false))
        {
            var acknowledge = db.CreateTransaction();
            acknowledge.AddCondition(Condition.KeyExists(done));
            _ = acknowledge.StreamAcknowledgeAsync(_options.Stream, _options.Group, entry.Id);
            _ = acknowledge.HashDeleteAsync(ErrorsKey, entry.Id);
            if (!await acknowledge.ExecuteAsync().ConfigureAwait(false))
            {
                _log($"entry {entry.Id} ({id}): neither its result nor a done record was written; it stays pending");
                return;
            }
        }
        Interlocked.Increment(ref _processed);
        ProcessedCounter.Add(1);
    }

    // Left pending (it will be claimed again after the idle time); its error is kept for the dead-letter stream.
    private async Task Fail(IDatabase db, StreamEntry entry, string error)
    {
        await db.HashSetAsync(ErrorsKey, entry.Id, error).ConfigureAwait(false);
        Interlocked.Increment(ref _failed);
        FailedCounter.Add(1);
        _log($"entry {entry.Id} failed: {error}");
    }

    private async Task DeadLetter(IDatabase db, StreamEntry entry, string id, string error, int deliveries)
    {
        var transaction = db.CreateTransaction();
        _ = transaction.StreamAddAsync(_options.DeadLetters, [.. entry.Values, new("source_id", entry.Id), new("input_id", id), new("error", error), new("deliveries", deliveries)]);
        _ = transaction.StreamAcknowledgeAsync(_options.Stream, _options.Group, entry.Id);
        _ = transaction.HashDeleteAsync(ErrorsKey, entry.Id);
        await transaction.ExecuteAsync().ConfigureAwait(false);
        Interlocked.Increment(ref _deadLettered);
        DeadCounter.Add(1);
        _log($"entry {entry.Id} moved to {_options.DeadLetters} after {deliveries} {(deliveries == 1 ? "delivery" : "deliveries")}: {error}");
    }

    private async Task<string?> LastError(IDatabase db, string entryId) => await db.HashGetAsync(ErrorsKey, entryId).ConfigureAwait(false) is { HasValue: true } v ? (string?)v : null;

    private string ErrorsKey => $"{_options.Stream}:errors:{_options.Group}";

    private async Task Report(IDatabase db)
    {
        try
        {
            var groups = await db.StreamGroupInfoAsync(_options.Stream).ConfigureAwait(false);
            var group = groups.FirstOrDefault(g => g.Name == _options.Group);
            // Redis reports the lag as unknown (null) after reloading its append-only file until the group reads on: -1 then.
            Volatile.Write(ref _lag, group.Lag ?? -1);
            _log($"processed {Processed}, failed {Failed}, redelivered {Redelivered}, dead-lettered {DeadLettered}; group lag {group.Lag?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "?"}, pending {group.PendingMessageCount}");
        }
        catch (Exception e) when (e is RedisException or RedisTimeoutException)
        {
            _log($"processed {Processed}, failed {Failed}, redelivered {Redelivered}, dead-lettered {DeadLettered}; lag unknown ({Short(e.Message)})");
        }
    }
}
