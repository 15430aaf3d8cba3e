using System.Diagnostics;
using System.Globalization;
using Nuansa.Checkpoints;
using Nuansa.Graphs.Onnx;
using Nuansa.Models;

namespace Nuansa.Bench;

/// <summary>
/// Why batch-1 latency varies: BERT-base, one sequence of 128 tokens, many single passes, with ONNX Runtime's thread
/// spinning on and off, alone and taking turns with a second session (the anchor baseline) on the same cores; and the
/// int8 graph (both weight forms) alone. Prints the spread (median, 90th percentile, maximum) of each.
/// </summary>
internal static class Batch1Study
{
    public static int Run(int threads, int runs, string anchor)
    {
        var folder = ForwardBenchmark.BertBase();
        var config = ModelConfig.Load(folder);
        var random = new Random(1);
        var ids = Enumerable.Range(0, 128).Select(_ => (long)random.Next(1000, config.VocabSize)).ToArray();
        var inputs = new Dictionary<string, long[]> { ["input_ids"] = ids, ["attention_mask"] = Enumerable.Repeat(1L, 128).ToArray(), ["token_type_ids"] = new long[128] };
        Graphs.Graph graph, full, reduced;
        using (var weights = WeightStore.Open(folder))
        {
            graph = SequenceClassifier.Build(config, weights, new GraphOptions { Fused = true });
            full = SequenceClassifier.Build(config, weights, new GraphOptions { Quantization = Quantization.Int8, Int8Weights = Int8Weights.FullRange });
            reduced = SequenceClassifier.Build(config, weights, new GraphOptions { Quantization = Quantization.Int8, Int8Weights = Int8Weights.ReducedRange });
        }
        var anchorModel = File.ReadAllBytes(anchor);
        foreach (var spinning in new[] { true, false })
        {
            var settings = new SessionSettings { IntraOpThreads = threads, AllowSpinning = spinning };
            using var session = new OnnxSession(graph, settings);
            using var other = new OnnxSession(anchorModel, settings);
            foreach (var (turns, pause) in new[] { (false, 0), (true, 0), (true, 100) })
                Spread(session, "", turns ? other : null, pause);
            foreach (var (name, int8) in new[] { ("int8-full", full), ("int8-reduced", reduced) })
            {
                using var quantized = new OnnxSession(int8, settings);
                Spread(quantized, $" {name}", null, 0);
            }

            void Spread(OnnxSession measured, string name, OnnxSession? turns, int pause)
            {
                for (var i = 0; i < 3; i++)
                    measured.Run(inputs, [1, 128], ["logits"]);
                var times = new List<double>();
                for (var i = 0; i < runs; i++)
                {
                    turns?.Run(inputs, [1, 128], ["logits"]);
                    Thread.Sleep(pause);
                    var clock = Stopwatch.StartNew();
                    measured.Run(inputs, [1, 128], ["logits"]);
                    times.Add(clock.Elapsed.TotalMilliseconds);
                }
                times.Sort();
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"nuansa batch1{name} spinning={(spinning ? "on" : "off")} {(turns != null ? "taking_turns_with_baseline" : "alone")}{(pause > 0 ? $"_pause_{pause}_ms" : "")} runs={runs} p50_ms={times[runs / 2]:F1} p90_ms={times[runs * 9 / 10]:F1} max_ms={times[^1]:F1}"));
            }
        }
        return 0;
    }
}
