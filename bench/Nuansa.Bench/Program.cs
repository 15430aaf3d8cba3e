using System.Diagnostics;
using System.Globalization;
using Nuansa.Tokenization;

namespace Nuansa.Bench;

/// <summary>
/// Benchmarks, run by the scripts in bench/. Each reports the median of repeated timed runs after a warm-up;
/// comparisons against other implementations are made by the calling script on the same input.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length < 1)
        {
            Console.Error.WriteLine("usage: Nuansa.Bench tokenize <model folder> <texts file, one per line> [repeats]\n       Nuansa.Bench forward [threads] [repeats] [baseline model.onnx]\n       Nuansa.Bench batch1 <threads> <runs> <baseline model.onnx>\n       Nuansa.Bench train [threads] [repeats] [bert-2x128,bert-base]\n       Nuansa.Bench train-profile [threads] [layers] [hidden] [batch] [length] [steps]\n       Nuansa.Bench forward-profile [threads] [batch] [fp32|int8-full|int8-reduced] [runs]\n       Nuansa.Bench int8-bound\n       Nuansa.Bench serve <shared folder> [clients,clients,...] [requests] [none|int8]\n       Nuansa.Bench overload <shared folder> <Nuansa.Cli.dll> [clients,clients,...] [seconds]\n       Nuansa.Bench tokenize-long <model folder> ...\n       Nuansa.Bench int8-accuracy <model folder> <labelled data file> [text column] [label column]\n       Nuansa.Bench e2e <model> <anchor.onnx> <texts> <hf encodings> <hf tokenize s> [threads] [repeats] [name]\n       Nuansa.Bench texts <data file> <column> <count> <output>\n       Nuansa.Bench bert-base [vocab.txt]\n       Nuansa.Bench tokenizer-json <vocab.txt> <output>");
            return 2;
        }
        return args[0] switch
        {
            "tokenize" => Tokenize(args[1], args[2], args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 7),
            "train" => TrainingBenchmark.Run(args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 2,
                args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 6, args.Length > 3 ? args[3] : "bert-2x128,bert-base"),
            "train-profile" => TrainingProfile.Run(Int(1, 2), Int(2, 12), Int(3, 768), Int(4, 16), Int(5, 128), Int(6, 2)),
            "serve" => ServeBenchmark.Run(args.Length > 1 ? args[1] : "../shared", args.Length > 2 ? [.. args[2].Split(',').Select(c => int.Parse(c, CultureInfo.InvariantCulture))] : [1, 8, 32, 128],
                Int(3, 200), args.Length > 4 ? args[4] : "none"),
            "overload" => OverloadBenchmark.Run(args[1], args[2], args.Length > 3 ? [.. args[3].Split(',').Select(c => int.Parse(c, CultureInfo.InvariantCulture))] : [64, 128], Int(4, 20)),
            "tokenize-long" => TokenizeLong(args.Skip(1).ToArray()),
            "int8-accuracy" => Int8Accuracy.Run(args[1], args[2], args.Length > 3 ? args[3] : "text", args.Length > 4 ? args[4] : "label"),
            "e2e" => EndToEndBenchmark.Run(args[1], args[2], args[3], args[4], double.Parse(args[5], CultureInfo.InvariantCulture), Int(6, 2), Int(7, 3), args.Length > 8 ? args[8] : "texts"),
            "texts" => EndToEndBenchmark.WriteTexts(args[1], args[2], Int(3, 10000), args[4]),
            "tokenizer-json" => EndToEndBenchmark.WriteTokenizerJson(args[1], args[2]),
            "bert-base" => Print(ForwardBenchmark.BertBase(args.Length > 1 ? args[1] : null)),
            "forward-profile" => ForwardProfile.Run(Int(1, 2), Int(2, 8), args.Length > 3 ? args[3] : "fp32", Int(4, 10)),
            "batch1" => Batch1Study.Run(Int(1, 2), Int(2, 40), args[3]),
            "int8-bound" => Int8Bound.Run(),
            "forward" => ForwardBenchmark.Run(args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 2,
                args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 5, args.Length > 3 ? args[3] : null),
            _ => Usage(args[0]),
        };
        int Int(int i, int fallback) => args.Length > i ? int.Parse(args[i], CultureInfo.InvariantCulture) : fallback;
    }

    private static int Print(string line)
    {
        Console.WriteLine(line);
        return 0;
    }

    private static int Usage(string name)
    {
        Console.Error.WriteLine($"unknown benchmark '{name}'");
        return 2;
    }

    private static int Tokenize(string model, string textsFile, int repeats)
    {
        var tokenizer = Tokenizer.Load(model);
        var texts = File.ReadAllLines(textsFile);
        var options = new EncodeOptions { Truncation = TruncationStrategy.DoNotTruncate };
        var tokens = texts.Sum(t => (long)tokenizer.Encode(t, null, options).Length); // warm-up and token count

        var single = Median(repeats, () =>
        {
            foreach (var text in texts)
                tokenizer.Encode(text, null, options);
        });
        var batch = texts.Select(t => (t, (string?)null)).ToArray();
        var parallel = Median(repeats, () => tokenizer.EncodeBatch(batch, options));

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"nuansa texts={texts.Length} tokens={tokens} single_thread_tokens_per_s={tokens / single:F0} all_cores_tokens_per_s={tokens / parallel:F0} cores={Environment.ProcessorCount}"));
        return 0;
    }

    /// <summary>
    /// Cost of one long word (no spaces) of 8k to 64k characters per tokenizer: the time should double with the
    /// length (linear or n log n), not quadruple.
    /// </summary>
    private static int TokenizeLong(string[] models)
    {
        var random = new Random(7);
        var word = new string([.. Enumerable.Range(0, 65536).Select(_ => "etaoinshrdlucmfwypvbgkjqxz"[Math.Min(25, (int)(random.NextDouble() * random.NextDouble() * 26))])]);
        var options = new EncodeOptions { Truncation = TruncationStrategy.DoNotTruncate };
        foreach (var model in models)
        {
            var tokenizer = Tokenizer.Load(model);
            foreach (var length in new[] { 8192, 16384, 32768, 65536 })
            {
                var text = word[..length];
                tokenizer.Encode(text, null, options);
                var seconds = Median(5, () => tokenizer.Encode(text, null, options));
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"nuansa tokenize-long {Path.GetFileName(model.TrimEnd('/'))} chars={length} seconds={seconds:F4}"));
            }
        }
        return 0;
    }

    /// <summary>
    /// Runs timed in turn (a, b, c, a, b, c, ...), <paramref name="repeats"/> rounds, so drift of the host affects all
    /// alike; each one's median seconds.
    /// </summary>
    internal static double[] MedianTurns(int repeats, params Action[] runs)
    {
        var seconds = runs.Select(_ => new List<double>()).ToArray();
        for (var r = 0; r < repeats; r++)
        {
            for (var i = 0; i < runs.Length; i++)
            {
                var clock = Stopwatch.StartNew();
                runs[i]();
                seconds[i].Add(clock.Elapsed.TotalSeconds);
            }
        }
        return [.. seconds.Select(s => MedianOf(s))];
    }

    /// <summary>The median as Python's statistics.median takes it (the mean of the middle two for an even count), so
    /// that a side measured here and a side measured by a Python script are summarized alike.</summary>
    internal static double MedianOf(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        var half = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[half] : (sorted[half - 1] + sorted[half]) / 2;
    }

    internal static (double A, double B) MedianPair(int repeats, Action a, Action b)
    {
        var medians = MedianTurns(repeats, a, b);
        return (medians[0], medians[1]);
    }

    internal static double Median(int repeats, Action run) => MedianTurns(repeats, run)[0];
}
