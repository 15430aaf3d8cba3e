using System.Diagnostics;
using System.Globalization;
using Nuansa.Checkpoints;
using Nuansa.Graphs.Onnx;
using Nuansa.Models;

namespace Nuansa.Bench;

/// <summary>
/// Sequences per second of a BERT-base-sized classifier (bert-base-uncased's config, random weights) at
/// sequence length 128 and batch sizes 1, 8 and 32, and the process's peak memory.
/// </summary>
internal static class ForwardBenchmark
{
    private const string BertBaseConfig = """
        {"model_type": "bert", "architectures": ["BertForSequenceClassification"], "vocab_size": 30522, "hidden_size": 768,
         "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072, "max_position_embeddings": 512,
         "type_vocab_size": 2, "hidden_act": "gelu", "layer_norm_eps": 1e-12, "id2label": {"0": "negative", "1": "positive"}}
        """;

    // Multiply-adds per token and layer of BERT-base at 128 tokens: the query, key, value and output projections, the
    // feed-forward layer, and the attention's scores and context.
    private const double Projections = 4 * 768 * 768, KeysAndValues = 2 * 768 * 768, FeedForward = 2 * 768 * 3072, Attention = 2 * 128 * 768;

    // As HF computes it: 12 layers, every token.
    private const double FlopsPerSequence = 2.0 * 128 * 12 * (Projections + FeedForward + Attention);

    // What Nuansa computes: the last layer projects keys and values for every token, the rest for the first one only.
    private const double FlopsDonePerSequence = FlopsPerSequence - 2.0 * 127 * (Projections - KeysAndValues + FeedForward + Attention);

    public static int Run(int threads, int repeats, string? anchor)
    {
        var folder = BertBase();
        var config = ModelConfig.Parse(BertBaseConfig);
        var random = new Random(1);
        var batches = new[] { 1, 8, 32 }.Select(batch =>
        {
            const int length = 128;
            var ids = Enumerable.Range(0, batch * length).Select(_ => (long)random.Next(1000, config.VocabSize)).ToArray();
            return (Batch: batch, Inputs: new Dictionary<string, long[]>
            {
                ["input_ids"] = ids,
                ["attention_mask"] = Enumerable.Repeat(1L, ids.Length).ToArray(),
                ["token_type_ids"] = new long[ids.Length],
            });
        }).ToArray();
        Console.WriteLine($"nuansa int8 on this CPU: {Int8Kernels.CpuFeatures}; full-range weights exact here: {Int8Kernels.FullRangeIsExact}");
        var limit = FmaProbe.Run(threads);
        var seconds = new Dictionary<(string, int), double>();

        // The baseline: ONNX Runtime on a torch.onnx.export of HF's model (../shared/anchors), same inputs, same
        // process, its runs alternating with Nuansa's float32 runs so both see the same state of the host.
        OnnxSession? baseline = null;
        if (anchor != null)
        {
            baseline = new OnnxSession(File.ReadAllBytes(anchor), Settings(threads));
            Console.WriteLine($"baseline: {anchor} (ORT, torch.onnx.export of HF BertForSequenceClassification)");
        }
        // Float32 graphs take turns with the baseline; each int8 form takes turns with the fused float32 graph (kept
        // for that), so every ratio comes from runs made in the same state of the host.
        OnnxSession? fp32Session = null;
        foreach (var (name, options) in new[]
        {
            ("fp32-portable", new GraphOptions()),
            ("fp32", new GraphOptions { Fused = true }),
            ("int8-full", new GraphOptions { Quantization = Quantization.Int8, Int8Weights = Int8Weights.FullRange }),
            ("int8-reduced", new GraphOptions { Quantization = Quantization.Int8, Int8Weights = Int8Weights.ReducedRange }),
        })
        {
            OnnxSession session;
            var build = Stopwatch.StartNew();
            using (var weights = WeightStore.Open(folder))
                session = new OnnxSession(SequenceClassifier.Build(config, weights, options), Settings(threads));
            GC.Collect();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"nuansa bert-base {name} graph+session build {build.Elapsed.TotalSeconds:F1} s, threads={threads}"));
            var int8 = name.StartsWith("int8", StringComparison.Ordinal);
            var (partner, partnerName) = int8 ? (fp32Session!, "fp32") : (baseline, "baseline");
            foreach (var (batch, inputs) in batches)
            {
                void Forward() => session.Run(inputs, [batch, 128], ["logits"]);
                WarmUp(Forward);
                if (partner != null)
                {
                    void Partner() => partner.Run(inputs, [batch, 128], ["logits"]);
                    WarmUp(Partner);
                    var (ours, theirs) = Program.MedianPair(repeats, Forward, Partner);
                    seconds[(name, batch)] = ours;
                    // Each graph is read against the runs it alternated with: the host's speed drifts between passes
                    // (the baseline's by 10% and more at batch 1).
                    seconds[($"{partnerName} beside {name}", batch)] = theirs;
                    Line(int8 ? $"fp32-beside-{name}" : "baseline", batch, theirs);
                }
                else
                {
                    seconds[(name, batch)] = Program.Median(repeats, Forward);
                }
                Line(name, batch, seconds[(name, batch)]);
            }
            if (name == "fp32")
                fp32Session = session;
            else
                session.Dispose();
        }
        fp32Session?.Dispose();
        baseline?.Dispose();
        // The host's clock moves over a run (the limit has read 197 and 233 GFLOP/s on the same machine kind): measured
        // again after the models, the higher reading is the limit the shares are read against.
        limit = Math.Max(limit, FmaProbe.Run(threads));
        foreach (var (batch, _) in batches)
        {
            var fp32 = seconds[("fp32", batch)];
            var portable = seconds[("fp32-portable", batch)];
            var vsBaseline = seconds.TryGetValue(("baseline beside fp32", batch), out var b)
                ? string.Create(CultureInfo.InvariantCulture, $" fp32_vs_baseline={b / fp32:F2} portable_vs_baseline={seconds[("baseline beside fp32-portable", batch)] / portable:F2}") : "";
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"nuansa bert-base batch={batch}{vsBaseline} fp32_of_fma_limit={batch * FlopsPerSequence / fp32 / 1e9 / limit:P0} fp32_work_done_of_fma_limit={batch * FlopsDonePerSequence / fp32 / 1e9 / limit:P0} int8_full_speedup={Speedup("int8-full", batch):F2} int8_reduced_speedup={Speedup("int8-reduced", batch):F2}"));
        }
        MatMulProbe.Run(threads, 4096);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"nuansa peak_working_set_mb={Process.GetCurrentProcess().PeakWorkingSet64 / 1e6:F0}"));
        return 0;

        double Speedup(string int8, int batch) => seconds[($"fp32 beside {int8}", batch)] / seconds[(int8, batch)];

        static void Line(string name, int batch, double median) => Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{(name == "baseline" ? "baseline" : "nuansa")} bert-base {name} seq_len=128 batch={batch} sequences_per_s={batch / median:F2} gflops={batch * FlopsPerSequence / median / 1e9:F0}"));
    }

    // Two seconds of runs before timing: the first passes after a graph is built run up to 1.5× slower for a second or
    // two (seen at batch 1 on AMD EPYC Zen 4 after two passes of warm-up), which skewed the first int8 form's batch-1 ratio.
    private static void WarmUp(Action run)
    {
        var clock = Stopwatch.StartNew();
        do
            run();
        while (clock.Elapsed < TimeSpan.FromSeconds(2));
    }

    // Spinning off for every session: two sessions taking turns on the same cores otherwise slow each other down
    // (the idle one's threads spin while the other runs; see Batch1Study).
    private static SessionSettings Settings(int threads) => new() { IntraOpThreads = threads, AllowSpinning = false };

    /// <summary>The BERT-base checkpoint with random weights (and bert-base-uncased's vocabulary when given), made once.</summary>
    internal static string BertBase(string? vocab = null)
    {
        var folder = Path.Combine(Path.GetTempPath(), "nuansa-bench-bert-base");
        WriteRandomCheckpoint(folder, ModelConfig.Parse(BertBaseConfig));
        if (vocab != null)
            File.Copy(vocab, Path.Combine(folder, "vocab.txt"), overwrite: true);
        return folder;
    }

    // Random weights with HF's initialization, written once and reused.
    private static void WriteRandomCheckpoint(string folder, ModelConfig config)
    {
        if (File.Exists(Path.Combine(folder, "model.safetensors")))
            return;
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "config.json"), BertBaseConfig);
        SafeTensorsWriter.Write(Path.Combine(folder, "model.safetensors"), Training.ModelInitializer.CreateWeights(config, 42));
    }
}
