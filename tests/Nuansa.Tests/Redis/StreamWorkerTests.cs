using System.Diagnostics;
using Nuansa.Inference;
using Nuansa.Redis;
using StackExchange.Redis;

namespace Nuansa.Tests.Redis;

/// <summary>Workers on Redis Streams with a real redis-server: no input lost or answered twice, whatever dies.</summary>
[Trait("Category", "Slow")]
public sealed class StreamWorkerTests : IDisposable
{
    private static readonly string Model = SharedFiles.Model("bert-2label");
    private readonly RedisServerProcess _redis = new();

    public void Dispose() => _redis.Dispose();

    private static async Task AddInputs(IDatabase db, string stream, int count, int from = 0)
    {
        var batch = db.CreateBatch();
        var adds = Enumerable.Range(from, count).Select(i => batch.StreamAddAsync(stream, [new("id", $"input-{i}"), new("text", $"review number {i} was {(i % 2 == 0 ? "good" : "bad")}")])).ToArray();
        batch.Execute();
        await Task.WhenAll(adds);
    }

    // What the workers wrote, shown when a run does not finish.
    private static readonly System.Collections.Concurrent.ConcurrentQueue<string> WorkerLog = new();

    private static Process StartWorker(string url, string name, int claimIdleMs = 1000)
    {
        var process = Process.Start(CliProcess.Start("worker", "--model", Model, "--redis", url, "--stream", "in", "--group", "g", "--consumer", name,
            "--batch-size", "32", "--block-ms", "50", "--claim-idle-ms", claimIdleMs.ToString(System.Globalization.CultureInfo.InvariantCulture), "--threads", "1"))!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data != null)
                WorkerLog.Enqueue($"{name}: {e.Data}");
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>
    /// Waits until the result stream has <paramref name="expected"/> entries and nothing is pending. Polls on a
    /// connection of its own, made again whenever a poll fails (a Redis restart can leave a client's old connection
    /// failing for longer than the workers' fresh ones), and says on a timeout what it last saw.
    /// </summary>
    private async Task WaitForAll(long expected, TimeSpan limit)
    {
        var clock = Stopwatch.StartNew();
        var seen = "nothing yet";
        ConnectionMultiplexer? connection = null;
        try
        {
            while (true)
            {
                try
                {
                    connection ??= await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{_redis.Port},connectTimeout=2000,syncTimeout=5000,asyncTimeout=5000");
                    var d = connection.GetDatabase();
                    var results = await d.StreamLengthAsync("in:results");
                    var dead = await d.StreamLengthAsync("in:dead");
                    var group = (await d.StreamGroupInfoAsync("in")).Single(g => g.Name == "g");
                    seen = $"{results} results, {group.PendingMessageCount} pending, {dead} dead-lettered, last delivered {group.LastDeliveredId}";
                    // Lag is not checked: Redis may report it as unknown after reloading its append-only file. All results
                    // and nothing pending is the end (duplicates would show in the count checked afterwards).
                    if (results >= expected && group.PendingMessageCount == 0)
                        return;
                }
                catch (Exception e) when (e is RedisException or TimeoutException)
                {
                    seen = $"{e.GetType().Name}: {e.Message.Split('\n')[0]}";
                    connection?.Dispose();
                    connection = null;
                }
                Assert.True(clock.Elapsed < limit, $"the workers did not finish in time (the test last saw: {seen}); they said:\n{string.Join('\n', WorkerLog.TakeLast(40))}");
                await Task.Delay(200);
            }
        }
        finally
        {
            connection?.Dispose();
        }
    }

    private static async Task AssertExactlyOneResultEach(IDatabase db, int count)
    {
        var results = await db.StreamRangeAsync("in:results");
        var ids = results.Select(r => (string)r["id"]!).ToArray();
        Assert.Equal(count, ids.Length);
        Assert.Equal(count, ids.Distinct().Count());
        Assert.All(Enumerable.Range(0, count), i => Assert.Contains($"input-{i}", ids));
        // Each result is the JSON nuansa classify writes.
        var first = System.Text.Json.Nodes.JsonNode.Parse((string)results[0]["labels"]!)!;
        Assert.Equal(2, first["labels"]!.AsArray().Count);
        Assert.Equal(2, first["logits"]!.AsArray().Count);
    }

    [Fact]
    public Task TenThousandInputsThroughThreeWorkersOneKilledMidway() =>
        // SIGKILL one worker once work is under way: whatever batch it holds stays pending and is taken over.
        RunWorkers(10_000, ["w1", "w2", "w3"], 2_000, workers => workers[0].Kill());

    [Fact]
    public Task ARedisRestartLosesNothing() =>
        RunWorkers(3_000, ["a", "b"], 500, _ =>
        {
            _redis.Stop();
            Thread.Sleep(500);
            _redis.Start();
        });

    /// <summary>Inputs through worker processes; <paramref name="interrupt"/> strikes once some results exist; then every id must have exactly one result.</summary>
    private async Task RunWorkers(int inputs, string[] names, int interruptAfter, Action<Process[]> interrupt)
    {
        using var connection = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{_redis.Port},abortConnect=false");
        var db = connection.GetDatabase();
        await AddInputs(db, "in", inputs);
        var workers = names.Select(n => StartWorker(_redis.Url, n)).ToArray();
        try
        {
            var clock = Stopwatch.StartNew();
            while (await db.StreamLengthAsync("in:results") < interruptAfter)
            {
                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(120), "no progress");
                await Task.Delay(20);
            }
            interrupt(workers);
            await WaitForAll(inputs, TimeSpan.FromSeconds(180));
            // A connection made after any restart.
            using var after = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{_redis.Port}");
            await AssertExactlyOneResultEach(after.GetDatabase(), inputs);
        }
        finally
        {
            foreach (var w in workers)
            {
                if (!w.HasExited)
                    w.Kill();
                w.Dispose();
            }
        }
    }

    [Fact]
    public async Task AMalformedEntryGoesToTheDeadLetterStreamAtOnce()
    {
        // It cannot succeed on another delivery: no text, both a context and a text_pair, or over the size limit.
        using var connection = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{_redis.Port}");
        var db = connection.GetDatabase();
        await db.StreamAddAsync("in", [new("id", "poison"), new("body", "no text field here")]);
        await db.StreamAddAsync("in", [new("id", "empty"), new("text", "")]);
        await db.StreamAddAsync("in", [new("id", "big"), new("text", new string('a', 5000))]);
        await AddInputs(db, "in", 5);
        using var classifier = TextClassifier.Load(Model);
        var worker = new StreamWorker(classifier, new StreamWorkerOptions
        {
            Redis = _redis.Url, Stream = "in", Group = "g", ClaimIdleMilliseconds = 100, BlockMilliseconds = 20, MaxDeliveries = 3, MaxEntryBytes = 4096,
        });
        using var stop = new CancellationTokenSource();
        var run = worker.RunAsync(stop.Token);
        var clock = Stopwatch.StartNew();
        while (await db.StreamLengthAsync("in:dead") < 3 || await db.StreamLengthAsync("in:results") < 5)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"the entries were not all answered: {await db.StreamLengthAsync("in:results")} results, " +
                $"dead: {string.Join("; ", (await db.StreamRangeAsync("in:dead")).Select(e => (string?)e["error"]))}; failed {worker.Failed}");
            await Task.Delay(50);
        }
        await stop.CancelAsync();
        await run;
        var dead = (await db.StreamRangeAsync("in:dead")).ToDictionary(e => (string)e["input_id"]!);
        Assert.Equal(["big", "empty", "poison"], dead.Keys.Order());
        Assert.Contains("no \"text\" field", (string)dead["poison"]["error"]!, StringComparison.Ordinal);
        // An empty text is reported as empty (as the server refuses it), not as a missing field.
        Assert.Contains("cannot be empty", (string)dead["empty"]["error"]!, StringComparison.Ordinal);
        Assert.Contains("over the limit of 4096", (string)dead["big"]["error"]!, StringComparison.Ordinal);
        Assert.All(dead.Values, d => Assert.Equal(1, (int)d["deliveries"]));
        Assert.Equal("no text field here", (string)dead["poison"]["body"]!);
        Assert.Equal(5, await db.StreamLengthAsync("in:results"));
        Assert.Equal(0, (await db.StreamGroupInfoAsync("in")).Single().PendingMessageCount);
        Assert.Equal(0, worker.Failed);
        Assert.Equal(3, worker.DeadLettered);
    }

    [Fact]
    public async Task AnEntryTheModelFailsOnGoesToTheDeadLetterStreamAfterItsDeliveries()
    {
        using var dir = new TempDirectory();
        using var classifier = TextClassifier.Load(Nuansa.Tests.Inference.NonFiniteOutputTests.BrokenModel(dir));
        using var connection = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{_redis.Port}");
        var db = connection.GetDatabase();
        await db.StreamAddAsync("in", [new("id", "nan"), new("text", "a text the broken model scores as NaN")]);
        var worker = new StreamWorker(classifier, new StreamWorkerOptions { Redis = _redis.Url, Stream = "in", Group = "g", ClaimIdleMilliseconds = 100, BlockMilliseconds = 20, MaxDeliveries = 2 });
        using var stop = new CancellationTokenSource();
        var run = worker.RunAsync(stop.Token);
        var clock = Stopwatch.StartNew();
        while (await db.StreamLengthAsync("in:dead") == 0)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), "the entry never reached the dead-letter stream");
            await Task.Delay(50);
        }
        await stop.CancelAsync();
        await run;
        var dead = Assert.Single(await db.StreamRangeAsync("in:dead"));
        Assert.Contains("not finite", (string)dead["error"]!, StringComparison.Ordinal);
        Assert.Equal(3, (int)dead["deliveries"]);
        Assert.Equal(2, worker.Failed);
        Assert.Equal(0, await db.StreamLengthAsync("in:results"));
    }
}
