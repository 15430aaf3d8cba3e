using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Nuansa.Inference;
using Nuansa.Models;
using Nuansa.Server;

namespace Nuansa.Bench;

/// <summary>
/// The server under concurrent load: BERT-base (random weights, bert-base-uncased vocabulary) answering one SST-2
/// sentence per request from many clients at once, against the baseline of the same sentences classified one by one
/// with <see cref="TextClassifier"/> in the same process. Reports requests/s and latency percentiles.
/// </summary>
internal static class ServeBenchmark
{
    public static int Run(string shared, int[] clients, int requests, string quantize)
    {
        var quantization = quantize == "int8" ? Quantization.Int8 : Quantization.None;
        var folder = ForwardBenchmark.BertBase(Path.Combine(shared, "data", "vocab", "bert-base-uncased.txt"));
        var sentences = File.ReadLines(Path.Combine(shared, "data", "sst2", "train.tsv")).Skip(1)
            .Select(l => l.Split('\t')[0].Trim()).Where(t => t.Split(' ').Length >= 8).Take(requests).ToArray();
        var tokens = 0L;

        using (var classifier = TextClassifier.Load(folder, new TextClassifierOptions { Quantization = quantization }))
        {
            tokens = sentences.Sum(s => (long)classifier.Tokenizer.Encode(s).Length);
            classifier.Classify(sentences[0]);
            var clock = Stopwatch.StartNew();
            foreach (var s in sentences)
                classifier.Classify(s);
            Report("one by one (TextClassifier.Classify)", sentences.Length, clock.Elapsed.TotalSeconds, null);
            foreach (var size in new[] { 8, 32 })
            {
                clock.Restart();
                classifier.ClassifyBatch([.. sentences.Select(t => new TextInput(t))], new ClassifyOptions { BatchSize = size });
                Report($"all at once, length-sorted batches of {size} (TextClassifier.ClassifyBatch)", sentences.Length, clock.Elapsed.TotalSeconds, null);
            }
        }

        // Each client count against its own server; then overload: 128 clients against a limit of 16 in flight.
        foreach (var (count, limit) in clients.Select(c => (c, new ServerOptions().MaxConcurrentRequests)).Append((128, 16)))
            Serve(folder, quantization, sentences, count, limit);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"nuansa serve quantize={quantize} sentences={sentences.Length} mean_tokens={tokens / (double)sentences.Length:F1} peak_working_set_mb={Process.GetCurrentProcess().PeakWorkingSet64 / 1e6:F0}"));
        return 0;
    }

    private static void Serve(string folder, Quantization quantization, string[] sentences, int clients, int limit)
    {
        var server = NuansaServer.Create(new ServerOptions { Models = [("bench", folder)], Url = "http://127.0.0.1:0", Quantization = quantization, MaxConcurrentRequests = limit });
        try
        {
            server.StartAsync().GetAwaiter().GetResult();
            using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 1024 }) { BaseAddress = new Uri(server.Addresses[0]) };
            Send(http, sentences[0]).GetAwaiter().GetResult();
            var latencies = new List<double>();
            var refused = 0;
            var next = -1;
            var clock = Stopwatch.StartNew();
            Task.WaitAll([.. Enumerable.Range(0, clients).Select(_ => Task.Run(async () =>
            {
                int i;
                while ((i = Interlocked.Increment(ref next)) < sentences.Length)
                {
                    var started = Stopwatch.GetTimestamp();
                    if (await Send(http, sentences[i]))
                    {
                        lock (latencies)
                            latencies.Add(Stopwatch.GetElapsedTime(started).TotalSeconds);
                    }
                    else
                    {
                        Interlocked.Increment(ref refused);
                    }
                }
            }))]);
            var seconds = clock.Elapsed.TotalSeconds;
            var memory = Process.GetCurrentProcess().WorkingSet64 / 1e6;
            Report($"server, {clients} clients, limit {limit}", latencies.Count, seconds, [.. latencies]);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"nuansa serve   refused (429) {refused} of {sentences.Length}, working set {memory:F0} MB"));
        }
        finally
        {
            server.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    /// <summary>One request; false when the server refused it as overloaded.</summary>
    private static async Task<bool> Send(HttpClient http, string text)
    {
        using var response = await http.PostAsync("/predict", new StringContent(new JsonObject { ["inputs"] = text }.ToJsonString(), System.Text.Encoding.UTF8, "application/json"));
        if (response.StatusCode == System.Net.HttpStatusCode.TooManyRequests)
            return false;
        response.EnsureSuccessStatusCode();
        return true;
    }

    private static void Report(string what, int count, double seconds, double[]? latencies)
    {
        var line = string.Create(CultureInfo.InvariantCulture, $"nuansa serve {what}: {count / seconds:F1} requests/s");
        if (latencies != null)
        {
            var sorted = latencies.Order().ToArray();
            double P(double q) => sorted[Math.Min(sorted.Length - 1, (int)(sorted.Length * q))] * 1000;
            line += string.Create(CultureInfo.InvariantCulture, $", latency p50 {P(0.5):F0} ms, p95 {P(0.95):F0} ms, p99 {P(0.99):F0} ms");
        }
        Console.WriteLine(line);
    }
}
