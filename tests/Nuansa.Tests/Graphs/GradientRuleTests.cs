using Microsoft.ML.OnnxRuntime;
using Nuansa.Graphs;
using Nuansa.Graphs.Autodiff;
using Nuansa.Graphs.Onnx;

namespace Nuansa.Tests.Graphs;

/// <summary>Every gradient rule against central finite differences of the same graph run by ONNX Runtime.</summary>
public class GradientRuleTests
{
    internal delegate string Body(GraphBuilder g, string[] inputs);

    private static readonly Dictionary<string, (long[][] Shapes, Body Body, bool Positive)> Cases = new()
    {
        ["add broadcast"] = ([[2, 3, 4], [4]], (g, x) => g.Add(x[0], x[1]), false),
        ["sub broadcast"] = ([[2, 3], [1, 3]], (g, x) => g.Sub(x[0], x[1]), false),
        ["mul broadcast"] = ([[2, 3, 4], [3, 1]], (g, x) => g.Mul(x[0], x[1]), false),
        ["div"] = ([[2, 3], [2, 3]], (g, x) => g.Div(x[0], x[1]), true),
        ["matmul 3d x 2d (linear)"] = ([[2, 3, 4], [4, 5]], (g, x) => g.MatMul(x[0], x[1]), false),
        ["matmul 4d batched (attention)"] = ([[2, 2, 3, 4], [2, 2, 4, 3]], (g, x) => g.MatMul(x[0], x[1]), false),
        ["matmul 2d"] = ([[3, 4], [4, 5]], (g, x) => g.MatMul(x[0], x[1]), false),
        ["transpose"] = ([[2, 3, 4]], (g, x) => g.Transpose(x[0], 2, 0, 1), false),
        ["reshape"] = ([[2, 3, 4]], (g, x) => g.Reshape(x[0], 0, 2, -1), false),
        ["unsqueeze"] = ([[2, 3]], (g, x) => g.Unsqueeze(x[0], 1), false),
        ["softmax"] = ([[2, 5]], (g, x) => g.Softmax(x[0]), false),
        ["log softmax"] = ([[3, 4]], (g, x) => g.Op("LogSoftmax", [x[0]], new() { ["axis"] = -1 }), false),
        ["layer norm"] = ([[2, 3, 6], [6], [6]], (g, x) => g.LayerNorm(x[0], x[1], x[2], 1e-5), false),
        ["erf"] = ([[2, 3]], (g, x) => g.Erf(x[0]), false),
        ["tanh"] = ([[2, 3]], (g, x) => g.Tanh(x[0]), false),
        ["sigmoid"] = ([[2, 3]], (g, x) => g.Sigmoid(x[0]), false),
        ["relu"] = ([[2, 3]], (g, x) => g.Relu(x[0]), false),
        ["exp"] = ([[2, 3]], (g, x) => g.Op("Exp", [x[0]]), false),
        ["neg"] = ([[2, 3]], (g, x) => g.Op("Neg", [x[0]]), false),
        ["reduce sum keepdims"] = ([[2, 3, 4]], (g, x) => g.Op("ReduceSum", [x[0], g.Ints(1)], new() { ["keepdims"] = 1 }), false),
        ["reduce sum no keepdims"] = ([[2, 3, 4]], (g, x) => g.Op("ReduceSum", [x[0], g.Ints(-1)], new() { ["keepdims"] = 0 }), false),
        ["reduce mean"] = ([[2, 3, 4]], (g, x) => g.ReduceMean(x[0], [0, 2], keepDims: false), false),
        ["embedding gather (repeated ids)"] = ([[5, 3]], (g, x) => g.Gather(x[0], g.Initializer(TensorData.Int64("ids", [2, 3], [1, 4, 1, 0, 1, 3]))), false),
        ["first-token gather"] = ([[2, 4, 3]], (g, x) => g.Gather(x[0], g.ScalarInt(0), axis: 1), false),
        ["prefix slice"] = ([[6, 3]], (g, x) => g.Op("Slice", [x[0], g.Ints(0), g.Ints(4), g.Ints(0)]), false),
        ["middle slice on the last axis"] = ([[2, 7]], (g, x) => g.Op("Slice", [x[0], g.Ints(2), g.Ints(5), g.Ints(-1)]), false),
        ["gather elements"] = ([[3, 4]], (g, x) => g.Op("GatherElements", [x[0], g.Initializer(TensorData.Int64("picks", [3, 1], [2, 0, 3]))], new() { ["axis"] = 1 }), false),
        ["log"] = ([[2, 3]], (g, x) => g.Op("Log", [x[0]]), true),
        ["pow constant exponent"] = ([[2, 3]], (g, x) => g.Op("Pow", [x[0], g.Scalar(1.7f)]), true),
        ["softplus"] = ([[2, 3]], (g, x) => g.Op("Softplus", [x[0]]), false),
        ["where (broadcast branch)"] = ([[2, 3], [3]], (g, x) => g.Op("Where", [g.Cast(g.Initializer(TensorData.Int64("condition", [2, 3], [1, 0, 1, 1, 0, 0])), ElementType.Bool), x[0], x[1]]), false),
        ["gelu (onnx runtime's op)"] = ([[2, 3]], (g, x) => g.Op("Gelu", [x[0]], domain: "com.microsoft"), false),
        ["gelu chain"] = ([[2, 3]], (g, x) => g.Mul(g.Mul(x[0], g.Add(g.Erf(g.Div(x[0], g.Scalar(MathF.Sqrt(2f)))), g.Scalar(1f))), g.Scalar(0.5f)), false),
    };

    /// <summary>
    /// How the inputs' dimensions are declared, which decides how gradients are summed back over broadcast axes:
    /// sizes (the builder knows every shape: constant axes), symbols shared by equal sizes (known to match: nothing to
    /// sum, or constant axes), a symbol per input and axis (unknown: axes found at run time).
    /// </summary>
    public enum Dims { Sizes, SharedSymbols, OwnSymbols }

    public static TheoryData<string, Dims> Names()
    {
        var data = new TheoryData<string, Dims>();
        foreach (var name in Cases.Keys)
        {
            foreach (var dims in Enum.GetValues<Dims>())
                data.Add(name, dims);
        }
        return data;
    }

    private static Dim Declared(long size, Dims dims, int input, int axis) => dims switch
    {
        Dims.Sizes => size,
        Dims.SharedSymbols => size == 1 ? 1 : $"n{size}",
        _ => $"x{input}_{axis}",
    };

    [Fact]
    public void DropoutGradientIsTheMaskScaled()
    {
        // A fresh mask every run rules out finite differences; within one run y = x·m/(1−p) and ∂Σy/∂x = m/(1−p).
        var g = new GraphBuilder("dropout");
        var x = g.Input("x", ElementType.Float, 4, 50);
        g.OpTo("Dropout", [x, g.Scalar(0.3f), g.Cast(g.ScalarInt(1), ElementType.Bool)], ["y", "mask"], new() { ["seed"] = 5L });
        var loss = g.Op("ReduceSum", ["y"], new() { ["keepdims"] = 0 });
        var grads = Autodiff.AddGradients(g, loss, [x]);
        g.Output("y", "out", ElementType.Float, 4, 50);
        g.Output(g.Cast("mask", ElementType.Float), "kept", ElementType.Float, 4, 50);
        g.Output(grads[x], "grad", ElementType.Float, 4, 50);
        using var session = new InferenceSession(OnnxWriter.Serialize(g.Build()));
        var values = Enumerable.Range(1, 200).Select(i => i / 10f).ToArray();
        using var input = OrtValue.CreateTensorValueFromMemory(values, [4, 50]);
        using var results = session.Run(new RunOptions(), ["x"], [input], ["out", "kept", "grad"]);
        var (y, kept, grad) = (results[0].GetTensorDataAsSpan<float>().ToArray(), results[1].GetTensorDataAsSpan<float>().ToArray(), results[2].GetTensorDataAsSpan<float>().ToArray());
        Assert.InRange(kept.Count(k => k == 0f), 20, 110); // about 30% dropped
        for (var i = 0; i < values.Length; i++)
        {
            Assert.Equal(kept[i] / 0.7f, grad[i], 5);
            Assert.Equal(values[i] * kept[i] / 0.7f, y[i], 4);
        }
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void MatchesFiniteDifferences(string name, Dims dims)
    {
        var (shapes, body, positive) = Cases[name];
        var random = new Random(name.Length * 7919 + shapes.Length);
        var values = shapes.Select(s => Enumerable.Range(0, (int)s.Aggregate(1L, (a, b) => a * b))
            .Select(_ => positive ? 0.5f + (float)random.NextDouble() : (float)(random.NextDouble() * 2 - 1)).ToArray()).ToArray();

        // loss = Σ f(x) · R with a fixed random R, so every output element matters with its own weight.
        var g = new GraphBuilder("check");
        var inputs = shapes.Select((s, i) => g.Input($"x{i}", ElementType.Float, [.. s.Select((d, axis) => Declared(d, dims, i, axis))])).ToArray();
        var output = body(g, inputs);
        // R = sin(1, 2, 3, ...) in the output's shape: fixed, varied, and not differentiated.
        var shape = g.Op("Shape", [output]);
        var ones = g.Op("ConstantOfShape", [shape], new() { ["value"] = TensorData.Float("one", [1], [1f]) });
        var weights = g.Op("Reshape", [g.Op("Sin", [g.Op("CumSum", [g.Reshape(ones, -1), g.ScalarInt(0)])]), shape]);
        var loss = g.Op("ReduceSum", [g.Mul(output, weights)], new() { ["keepdims"] = 0 });
        var grads = Autodiff.AddGradients(g, loss, inputs);
        g.Output(loss, "loss", ElementType.Float);
        for (var i = 0; i < inputs.Length; i++)
            g.Output(grads[inputs[i]], $"grad{i}", ElementType.Float, [.. shapes[i].Select(d => (Dim)d)]);
        using var session = new InferenceSession(OnnxWriter.Serialize(g.Build()));

        float Loss(float[][] xs)
        {
            var feeds = xs.Select((x, i) => OrtValue.CreateTensorValueFromMemory(x, shapes[i])).ToArray();
            using var results = session.Run(new RunOptions(), [.. inputs], feeds, ["loss"]);
            foreach (var f in feeds)
                f.Dispose();
            return results[0].GetTensorDataAsSpan<float>()[0];
        }

        float[][] analytic;
        {
            var feeds = values.Select((x, i) => OrtValue.CreateTensorValueFromMemory(x, shapes[i])).ToArray();
            using var results = session.Run(new RunOptions(), [.. inputs], feeds, [.. Enumerable.Range(0, inputs.Length).Select(i => $"grad{i}")]);
            analytic = [.. results.Select(r => r.GetTensorDataAsSpan<float>().ToArray())];
            foreach (var f in feeds)
                f.Dispose();
        }

        const float step = 1e-2f;
        for (var i = 0; i < values.Length; i++)
        {
            Assert.Equal(values[i].Length, analytic[i].Length);
            for (var k = 0; k < values[i].Length; k++)
            {
                var original = values[i][k];
                values[i][k] = original + step;
                var up = Loss(values);
                values[i][k] = original - step;
                var down = Loss(values);
                values[i][k] = original;
                var numeric = (up - down) / (2 * step);
                var tolerance = 2e-3 + 2e-2 * Math.Abs(numeric);
                Assert.True(Math.Abs(numeric - analytic[i][k]) <= tolerance, $"{name}: d/dx{i}[{k}] analytic {analytic[i][k]} vs numeric {numeric}");
            }
        }
    }
}
