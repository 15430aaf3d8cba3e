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
    public static int Run(string shared, int clients, int requests, string quantize)
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

        var server = NuansaServer.Create(new ServerOptions { Models = [("bench", folder)], Url = "http://127.0.0.1:0", Quantization = quantization });
        try
        {
            server.StartAsync().GetAwaiter().GetResult();
            using var http = new HttpClient { BaseAddress = new Uri(server.Addresses[0]) };
            Send(http, sentences[0]).GetAwaiter().GetResult();
            var latencies = new double[sentences.Length];
            var next = -1;
            var clock = Stopwatch.StartNew();
            Task.WaitAll([.. Enumerable.Range(0, clients).Select(_ => Task.Run(async () =>
            {
                int i;
                while ((i = Interlocked.Increment(ref next)) < sentences.Length)
                {
                    var started = Stopwatch.GetTimestamp();
                    await Send(http, sentences[i]);
                    latencies[i] = Stopwatch.GetElapsedTime(started).TotalSeconds;
                }
            }))]);
            Report($"server, {clients} concurrent clients", sentences.Length, clock.Elapsed.TotalSeconds, latencies);
            var metrics = http.GetStringAsync("/metrics").GetAwaiter().GetResult();
            string Metric(string name) => System.Text.RegularExpressions.Regex.Match(metrics, name + @"\{model=""bench""\} (\S+)").Groups[1].Value;
            Console.WriteLine($"nuansa serve inference {Metric("te_request_inference_duration_sum")} s of {clock.Elapsed.TotalSeconds:F1} s, {Metric("te_batch_next_size_count")} forward passes for {Metric("te_batch_next_size_sum")} inputs");
        }
        finally
        {
            server.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"nuansa serve quantize={quantize} sentences={sentences.Length} mean_tokens={tokens / (double)sentences.Length:F1}"));
        return 0;
    }

    private static async Task Send(HttpClient http, string text)
    {
        using var response = await http.PostAsync("/predict", new StringContent(new JsonObject { ["inputs"] = text }.ToJsonString(), System.Text.Encoding.UTF8, "application/json"));
        response.EnsureSuccessStatusCode();
    }

    private static void Report(string what, int count, double seconds, double[]? latencies)
    {
        var line = string.Create(CultureInfo.InvariantCulture, $"nuansa serve {what}: {count / seconds:F1} requests/s");
        if (latencies != null)
        {
            var sorted = latencies.Order().ToArray();
            line += string.Create(CultureInfo.InvariantCulture, $", latency p50 {sorted[sorted.Length / 2] * 1000:F0} ms, p95 {sorted[(int)(sorted.Length * 0.95)] * 1000:F0} ms");
        }
        Console.WriteLine(line);
    }
}
