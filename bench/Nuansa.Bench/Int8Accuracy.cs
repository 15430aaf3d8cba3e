using System.Diagnostics;
using System.Globalization;
using Nuansa.Inference;
using Nuansa.Models;
using Nuansa.Reporting;

namespace Nuansa.Bench;

/// <summary>
/// What each int8 weight form costs on labelled data, against the float32 model in the same process: accuracy,
/// predictions that agree with float32, how far probabilities move, and classification time.
/// </summary>
internal static class Int8Accuracy
{
    public static int Run(string model, string dataFile, string textColumn, string labelColumn)
    {
        var rows = TableReader.Read(dataFile);
        var inputs = rows.Select(r => new TextInput(r.Text(textColumn, dataFile))).ToArray();
        var gold = rows.Select(r => r.Text(labelColumn, dataFile)).ToArray();
        Console.WriteLine($"int8-accuracy {Path.GetFileName(dataFile)}: {inputs.Length} rows; CPU {Int8Kernels.CpuFeatures}; full-range exact here: {Int8Kernels.FullRangeIsExact}");
        Classification[]? reference = null;
        foreach (var (name, options) in new[]
        {
            ("fp32", new TextClassifierOptions()),
            ("int8-full", new TextClassifierOptions { Quantization = Quantization.Int8, Int8Weights = Int8Weights.FullRange }),
            ("int8-reduced", new TextClassifierOptions { Quantization = Quantization.Int8, Int8Weights = Int8Weights.ReducedRange }),
        })
        {
            using var classifier = TextClassifier.Load(model, options);
            var timer = Stopwatch.StartNew();
            var results = classifier.ClassifyBatch(inputs, new ClassifyOptions { TopK = null, BatchSize = 64 }).ToArray();
            var seconds = timer.Elapsed.TotalSeconds;
            reference ??= results;
            var labels = classifier.Labels;
            // Gold labels may be names or ids.
            var correct = results.Select((r, i) => r.Labels[0].Label == gold[i] || (int.TryParse(gold[i], out var id) && id < labels.Count && labels[id] == r.Labels[0].Label)).Count(c => c);
            var agree = results.Select((r, i) => r.Labels[0].Label == reference[i].Labels[0].Label).Count(a => a);
            var moves = results.SelectMany((r, i) => r.Labels.Select(l => Math.Abs(l.Score - reference[i].Labels.First(x => x.Label == l.Label).Score))).ToArray();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"int8-accuracy {name}: accuracy {(double)correct / inputs.Length:F4}, same label as fp32 {agree}/{inputs.Length}, probability moved mean {moves.Average():F5} max {moves.Max():F4}, {inputs.Length / seconds:F0} rows/s"));
        }
        return 0;
    }
}
