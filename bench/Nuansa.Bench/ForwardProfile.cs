using Microsoft.ML.OnnxRuntime;
using Nuansa.Checkpoints;
using Nuansa.Graphs.Onnx;
using Nuansa.Models;

namespace Nuansa.Bench;

/// <summary>
/// Where a forward pass's time goes: a BERT-base-sized classifier (random weights) at length 128 in one form (fp32,
/// int8-full, int8-reduced; the fused graphs TextClassifier runs) under ONNX Runtime's profiler, kernel time by op type.
/// </summary>
internal static class ForwardProfile
{
    public static int Run(int threads, int batch, string form, int runs)
    {
        var folder = ForwardBenchmark.BertBase();
        var options = form switch
        {
            "fp32" => new GraphOptions { Fused = true },
            "int8-full" => new GraphOptions { Quantization = Quantization.Int8, Int8Weights = Int8Weights.FullRange, Fused = true },
            "int8-reduced" => new GraphOptions { Quantization = Quantization.Int8, Int8Weights = Int8Weights.ReducedRange, Fused = true },
            _ => throw new ArgumentException($"form '{form}': fp32, int8-full or int8-reduced"),
        };
        using var weights = WeightStore.Open(folder);
        var graph = SequenceClassifier.Build(ModelConfig.Load(folder), weights, options);
        using var so = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL, IntraOpNumThreads = threads, InterOpNumThreads = 1 };
        // The prefix is read when profiling is switched on, so it goes first.
        so.ProfileOutputPathPrefix = Path.Combine(Path.GetTempPath(), "nuansa-forward-profile");
        so.EnableProfiling = true;
        // As the benchmarks run their sessions.
        so.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        using var session = new InferenceSession(OnnxWriter.Serialize(graph), so);
        var random = new Random(1);
        var ids = Enumerable.Range(0, batch * 128).Select(_ => (long)random.Next(1000, 30000)).ToArray();
        for (var r = 0; r <= runs; r++)
        {
            using var a = OrtValue.CreateTensorValueFromMemory(ids, [batch, 128]);
            using var m = OrtValue.CreateTensorValueFromMemory(Enumerable.Repeat(1L, ids.Length).ToArray(), [batch, 128]);
            using var t = OrtValue.CreateTensorValueFromMemory(new long[ids.Length], [batch, 128]);
            using var runOptions = new RunOptions();
            using var results = session.Run(runOptions, ["input_ids", "attention_mask", "token_type_ids"], [a, m, t], ["logits"]);
        }
        var file = session.EndProfiling();
        TrainingProfile.Summarize(file, runs + 1);
        File.Delete(file);
        return 0;
    }
}
