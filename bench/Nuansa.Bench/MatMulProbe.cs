using System.Globalization;
using Microsoft.ML.OnnxRuntime;
using Nuansa.Graphs;
using Nuansa.Graphs.Onnx;

namespace Nuansa.Bench;

/// <summary>
/// The machine's ceiling for the forward benchmark: GFLOP/s of one plain ONNX Runtime MatMul shaped like BERT-base's
/// feed-forward layer ([M, 768] × [768, 3072]), measured in the same process so the model's numbers can be read against it.
/// </summary>
internal static class MatMulProbe
{
    public static double Run(int threads, int rows)
    {
        var g = new GraphBuilder("matmul_probe");
        var x = g.Input("x", ElementType.Float, "m", 768);
        var random = new Random(1);
        var w = g.Initializer(TensorData.Float("w", [768, 3072], [.. Enumerable.Range(0, 768 * 3072).Select(_ => (float)random.NextDouble() - 0.5f)]));
        g.Output(g.MatMul(x, w), "y", ElementType.Float, "m", 3072);
        using var options = new SessionOptions { IntraOpNumThreads = threads };
        using var session = new InferenceSession(OnnxWriter.Serialize(g.Build()), options);
        var data = Enumerable.Range(0, rows * 768).Select(_ => (float)random.NextDouble()).ToArray();
        using var input = OrtValue.CreateTensorValueFromMemory(data, [rows, 768]);
        using var runOptions = new RunOptions();
        void Multiply()
        {
            using var result = session.Run(runOptions, ["x"], [input], ["y"]);
        }
        Multiply();
        var gflops = 2.0 * rows * 768 * 3072 / Program.Median(5, Multiply) / 1e9;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"machine matmul [{rows}x768]x[768x3072] threads={threads} gflops={gflops:F0}"));
        return gflops;
    }
}
