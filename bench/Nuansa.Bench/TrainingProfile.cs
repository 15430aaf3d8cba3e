using System.Globalization;
using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Nuansa.Checkpoints;
using Nuansa.Graphs.Onnx;
using Nuansa.Training;

namespace Nuansa.Bench;

/// <summary>
/// Where a training step's time goes: runs the training graph of a BERT model with ONNX Runtime's profiler on and
/// prints the kernel time by op type (and the slowest single nodes), averaged over the profiled steps.
/// </summary>
internal static class TrainingProfile
{
    public static int Run(int threads, int layers, int hidden, int batch, int length, int steps)
    {
        var (config, folder) = TrainingBenchmark.Checkpoint($"profile-{layers}x{hidden}", hidden, layers, hidden / 64 > 0 ? hidden / 64 : 2);
        using var store = WeightStore.Open(folder);
        var graph = TrainingGraph.ForCrossEntropy(config, store);
        var prefix = Path.Combine(Path.GetTempPath(), "nuansa-train-profile");
        using var options = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            IntraOpNumThreads = threads,
            InterOpNumThreads = 1,
        };
        if (Environment.GetEnvironmentVariable("NO_MEM_PATTERN") == "1")
            options.EnableMemoryPattern = false;
        if (Environment.GetEnvironmentVariable("NO_ARENA") == "1")
            options.EnableCpuMemArena = false;
        // The prefix is read when profiling is switched on, so it goes first.
        options.ProfileOutputPathPrefix = prefix;
        options.EnableProfiling = true;
        using var session = new InferenceSession(OnnxWriter.Serialize(graph.Graph), options);
        var data = TrainingBenchmark.RandomBatch(config, batch, length);
        var parameters = graph.Parameters.ToDictionary(p => p.Name, p => graph.InitialValues[p.Name]);
        for (var step = 0; step <= steps; step++)
        {
            var feeds = Nuansa.Training.TrainingSession.ModelFeeds(data, graph.Parameters, parameters, tokenTypes: true);
            feeds["labels"] = OrtValue.CreateTensorValueFromMemory(data.Labels, [batch]);
            feeds["class_weights"] = OrtValue.CreateTensorValueFromMemory(new[] { 1f, 1f }, [2]);
            foreach (var (mask, values, shape) in DropoutMaskSampler.Sample(graph, 1, step + 1, batch, length))
                feeds[mask.Name] = OrtValue.CreateTensorValueFromMemory(values, shape);
            using var runOptions = new RunOptions();
            using var results = session.Run(runOptions, [.. feeds.Keys], [.. feeds.Values], session.OutputNames);
            foreach (var v in feeds.Values)
                v.Dispose();
        }
        var file = session.EndProfiling();
        Summarize(file, steps + 1);
        File.Delete(file);
        return 0;
    }

    internal static void Summarize(string file, int runs)
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(file));
        var byType = new Dictionary<string, (double Us, int Count)>();
        var byNode = new Dictionary<string, double>();
        double model = 0;
        var runIndex = 0;
        foreach (var e in document.RootElement.EnumerateArray())
        {
            var name = e.GetProperty("name").GetString()!;
            var dur = e.TryGetProperty("dur", out var d) ? d.GetDouble() : 0;
            if (e.GetProperty("cat").GetString() == "Session" && name == "model_run")
            {
                runIndex++;
                if (runIndex > 1)
                    model += dur;
                continue;
            }
            if (runIndex < 1 || e.GetProperty("cat").GetString() != "Node" || !name.EndsWith("_kernel_time", StringComparison.Ordinal))
                continue;
            var op = e.GetProperty("args").GetProperty("op_name").GetString()!;
            var (us, count) = byType.GetValueOrDefault(op);
            byType[op] = (us + dur, count + 1);
            byNode[name] = byNode.GetValueOrDefault(name) + dur;
        }
        // The first run is the warm-up: model_run events close after their node events, so count runs 2.. only
        // for the total; the per-op sums include every run and are divided by the run count.
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"model_run median-free mean over {runs - 1} runs: {model / (runs - 1) / 1e6:F3} s"));
        var total = byType.Values.Sum(v => v.Us);
        foreach (var (op, (us, count)) in byType.OrderByDescending(kv => kv.Value.Us))
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{op,-28} {us / runs / 1e6,8:F3} s  {100 * us / total,5:F1}%  nodes/run {count / runs}"));
        Console.WriteLine("slowest nodes:");
        foreach (var (node, us) in byNode.OrderByDescending(kv => kv.Value).Take(25))
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {node,-60} {us / runs / 1e3,8:F1} ms"));
    }
}
