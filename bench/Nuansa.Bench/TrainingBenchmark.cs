using System.Diagnostics;
using System.Globalization;
using Nuansa.Checkpoints;
using Nuansa.Training;

namespace Nuansa.Bench;

/// <summary>
/// Training throughput (forward + backward + clipping + AdamW) in tokens per second on fixed-shape random
/// batches: the 2-layer × 128 BERT at batch 32 × 64, and BERT-base at batch 16 × 128 (either or both).
/// </summary>
internal static class TrainingBenchmark
{
    public static int Run(int threads, int repeats, string models)
    {
        var chosen = models.Split(',');
        if (chosen.Except(["bert-2x128", "bert-base"]).FirstOrDefault() is { } unknown)
            throw new ArgumentException($"unknown model '{unknown}' (bert-2x128, bert-base)");
        if (chosen.Contains("bert-2x128"))
            Measure("bert-2x128", hidden: 128, layers: 2, heads: 2, batch: 32, length: 64, threads, repeats);
        if (chosen.Contains("bert-base"))
            Measure("bert-base", hidden: 768, layers: 12, heads: 12, batch: 16, length: 128, threads, Math.Max(1, repeats / 3));
        return 0;
    }

    private static void Measure(string name, int hidden, int layers, int heads, int batch, int length, int threads, int repeats)
    {
        var (config, folder) = Checkpoint(name, hidden, layers, heads);
        TrainingGraph graph;
        // As the trainer: the checkpoint is unmapped once read, its values trained in place.
        using (var store = WeightStore.Open(folder))
            graph = TrainingGraph.ForCrossEntropy(config, store);
        using var session = new TrainingSession(graph, threads);
        var parameters = graph.Parameters.ToDictionary(p => p.Name, p => graph.InitialValues[p.Name]);
        var optimizer = new AdamW(new AdamWOptions { WeightDecay = 0.01 });
        var data = RandomBatch(config, batch, length);
        var inGraph = new List<double>();
        var gradients = graph.Parameters.Select(p => new float[p.ElementCount]).ToArray();
        void Step()
        {
            var clock = Stopwatch.StartNew();
            var result = session.Run(data, parameters, [1f, 1f], 1, gradients);
            inGraph.Add(clock.Elapsed.TotalSeconds);
            GradientClipping.ClipByGlobalNorm([.. result.Gradients], 1.0);
            optimizer.Update(graph.Parameters.Select((p, i) => (p.Name, parameters[p.Name], result.Gradients[i], p.Decays)), 1e-4);
        }
        Step(); // warm-up
        var seconds = Program.Median(repeats, Step);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {name}: forward+backward in ONNX Runtime {Program.MedianOf(inGraph.Skip(1)):F3} s of {seconds:F3} s a step"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"nuansa train {name} batch={batch}x{length} threads={threads} step_s={seconds:F3} tokens_per_s={batch * length / seconds:F0} peak_working_set_mb={Process.GetCurrentProcess().PeakWorkingSet64 / 1e6:F0}"));
    }

    /// <summary>A randomly initialized BERT checkpoint of the given size with two labels, made once in the temp folder.</summary>
    internal static (ModelConfig Config, string Folder) Checkpoint(string name, int hidden, int layers, int heads)
    {
        var folder = Path.Combine(Path.GetTempPath(), $"nuansa-bench-train-{name}");
        var config = ModelConfig.Parse(new System.Text.Json.Nodes.JsonObject
        {
            ["model_type"] = "bert", ["hidden_size"] = hidden, ["num_hidden_layers"] = layers, ["num_attention_heads"] = heads,
            ["intermediate_size"] = 4 * hidden, ["id2label"] = new System.Text.Json.Nodes.JsonObject { ["0"] = "negative", ["1"] = "positive" },
        }.ToJsonString());
        if (!File.Exists(Path.Combine(folder, "model.safetensors")))
        {
            Directory.CreateDirectory(folder);
            File.WriteAllText(Path.Combine(folder, "config.json"), config.ToJson());
            SafeTensorsWriter.Write(Path.Combine(folder, "model.safetensors"), ModelInitializer.CreateWeights(config, 1));
        }
        return (config, folder);
    }

    /// <summary>A full batch of random token ids with alternating labels.</summary>
    internal static TrainingBatch RandomBatch(ModelConfig config, int batch, int length)
    {
        var random = new Random(1);
        var ids = Enumerable.Range(0, batch * length).Select(_ => (long)random.Next(1000, config.VocabSize)).ToArray();
        return new TrainingBatch(ids, [.. Enumerable.Repeat(1L, ids.Length)], new long[ids.Length],
            [.. Enumerable.Range(0, batch).Select(i => (long)(i % 2))], batch, length);
    }
}
