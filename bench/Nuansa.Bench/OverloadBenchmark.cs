using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace Nuansa.Bench;

/// <summary>
/// Requests that try to hurt the server, against <c>nuansa serve</c> in its own process with BERT-base (random weights,
/// bert-base-uncased vocabulary): (1) long-text chunking with a stride that steps one token at a time over 20,000
/// tokens, and a long-text request whose client leaves; (2) many clients at once, each sending 32 inputs of 60,000
/// characters with <c>truncate: true</c>. Reports the answers' status codes, the server's peak resident memory (VmHWM)
/// and the latency of <c>/health</c> sampled every 200 ms meanwhile.
/// </summary>
internal static class OverloadBenchmark
{
    public static int Run(string shared, string cli, int[] clientCounts, int seconds)
    {
        var folder = ForwardBenchmark.BertBase(Path.Combine(shared, "data", "vocab", "bert-base-uncased.txt"));
        var sentences = File.ReadLines(Path.Combine(shared, "data", "sst2", "train.tsv")).Skip(1).Select(l => l.Split('\t')[0].Trim()).ToArray();
        // About 20,000 tokens of real text (SST-2 phrases average about 10 tokens), under TEI's 128,000-character limit.
        var document = string.Join(" ", sentences.Take(2000));
        document = document[..Math.Min(document.Length, 120_000)];
        var big = string.Join(" ", sentences.Skip(2000).Take(10_000))[..60_000];

        using (var server = ServerProcess.Start(cli, folder))
        {
            var health = new HealthProbe(server.Address, server.Pid);
            using var http = new HttpClient { BaseAddress = new Uri(server.Address), Timeout = TimeSpan.FromMinutes(10) };
            Post(http, new JsonObject { ["inputs"] = "warm up" }).GetAwaiter().GetResult();
            var clock = Stopwatch.StartNew();
            var (status, body) = Post(http, new JsonObject { ["inputs"] = document, ["long_text"] = "chunk", ["stride"] = 509, ["truncate"] = true }).GetAwaiter().GetResult();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"windows stride=509 chars={document.Length}: status {(int)status} in {clock.Elapsed.TotalMilliseconds:F0} ms: {Short(body)}"));
            // A request at the window limit whose client leaves after 300 ms: how soon the next request is answered.
            using (var leave = new CancellationTokenSource(TimeSpan.FromMilliseconds(300)))
            {
                try
                {
                    Post(http, new JsonObject { ["inputs"] = document, ["long_text"] = "chunk", ["stride"] = 0 }, leave.Token).GetAwaiter().GetResult();
                }
                catch (OperationCanceledException)
                {
                }
            }
            clock.Restart();
            (status, _) = Post(http, new JsonObject { ["inputs"] = "right after" }).GetAwaiter().GetResult();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"windows client left after 300 ms: the next request answered {(int)status} in {clock.Elapsed.TotalMilliseconds:F0} ms"));
            health.Report("windows");
        }

        foreach (var clients in clientCounts)
        {
            using var server = ServerProcess.Start(cli, folder);
            var health = new HealthProbe(server.Address, server.Pid);
            var codes = new System.Collections.Concurrent.ConcurrentDictionary<int, int>();
            var body = new JsonObject { ["inputs"] = new JsonArray([.. Enumerable.Range(0, 32).Select(_ => (JsonNode)new JsonArray(big))]), ["truncate"] = true }.ToJsonString();
            var until = Stopwatch.StartNew();
            Task.WaitAll([.. Enumerable.Range(0, clients).Select(_ => Task.Run(async () =>
            {
                using var http = new HttpClient { BaseAddress = new Uri(server.Address), Timeout = TimeSpan.FromSeconds(seconds + 60) };
                while (until.Elapsed < TimeSpan.FromSeconds(seconds))
                {
                    try
                    {
                        using var response = await http.PostAsync("/predict", new StringContent(body, Encoding.UTF8, "application/json"));
                        await response.Content.ReadAsStringAsync();
                        codes.AddOrUpdate((int)response.StatusCode, 1, (_, n) => n + 1);
                        if (response.StatusCode == HttpStatusCode.TooManyRequests)
                            await Task.Delay(100);
                    }
                    catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                    {
                        // No answer: a connection refused or reset (0), or none within the client's timeout (-1).
                        codes.AddOrUpdate(e is TaskCanceledException ? -1 : 0, 1, (_, n) => n + 1);
                    }
                }
            }))]);
            Console.WriteLine($"big bodies clients={clients} body_mb={body.Length / 1e6:F2} seconds={seconds}: answers {string.Join(", ", codes.OrderBy(c => c.Key).Select(c => $"{c.Key}×{c.Value}"))}");
            health.Report($"big bodies clients={clients}");
        }
        return 0;
    }

    private static string Short(string text) => text.Length > 160 ? text[..160] + "…" : text;

    private static async Task<(HttpStatusCode Status, string Body)> Post(HttpClient http, JsonObject body, CancellationToken cancellation = default)
    {
        using var response = await http.PostAsync("/predict", new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"), cancellation);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(cancellation));
    }

    /// <summary>/health every 200 ms and the server's peak resident memory, from start until reported.</summary>
    private sealed class HealthProbe
    {
        private readonly List<double> _latencies = [];
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _loop;
        private readonly int _pid;
        private int _failed;

        public HealthProbe(string address, int pid)
        {
            _pid = pid;
            _loop = Task.Run(async () =>
            {
                using var http = new HttpClient { BaseAddress = new Uri(address), Timeout = TimeSpan.FromSeconds(10) };
                while (!_stop.IsCancellationRequested)
                {
                    var started = Stopwatch.GetTimestamp();
                    try
                    {
                        using var response = await http.GetAsync("/health");
                        if (!response.IsSuccessStatusCode)
                            Interlocked.Increment(ref _failed);
                    }
                    catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                    {
                        Interlocked.Increment(ref _failed);
                    }
                    lock (_latencies)
                        _latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                    await Task.Delay(200);
                }
            });
        }

        public void Report(string what)
        {
            _stop.Cancel();
            _loop.Wait();
            var peak = File.ReadAllLines($"/proc/{_pid}/status").First(l => l.StartsWith("VmHWM:", StringComparison.Ordinal))[6..].Trim();
            double[] sorted;
            lock (_latencies)
                sorted = [.. _latencies.Order()];
            double At(double q) => sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)(q * sorted.Length))];
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {what}: server peak RSS {peak}; /health {sorted.Length} probes, p50 {At(0.5):F1} ms, p99 {At(0.99):F1} ms, max {sorted.LastOrDefault():F1} ms, failed {_failed}"));
        }
    }

    /// <summary><c>nuansa serve</c> in its own process on a free port.</summary>
    private sealed class ServerProcess : IDisposable
    {
        private readonly Process _process;

        private ServerProcess(Process process, string address)
        {
            _process = process;
            Address = address;
        }

        public string Address { get; }
        public int Pid => _process.Id;

        public static ServerProcess Start(string cli, string model)
        {
            var start = new ProcessStartInfo("dotnet", [cli, "serve", "--model", model, "--port", "0"]) { RedirectStandardOutput = true, RedirectStandardError = true };
            var process = Process.Start(start)!;
            process.ErrorDataReceived += (_, _) => { };
            process.BeginErrorReadLine();
            string? line;
            do
                line = process.StandardOutput.ReadLine();
            while (line != null && !line.StartsWith("serving", StringComparison.Ordinal));
            if (line == null)
                throw new InvalidOperationException("nuansa serve did not start");
            var address = line[line.IndexOf("http://", StringComparison.Ordinal)..].Split(' ')[0].TrimEnd(',');
            return new ServerProcess(process, address);
        }

        public void Dispose()
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
            _process.Dispose();
        }
    }
}
