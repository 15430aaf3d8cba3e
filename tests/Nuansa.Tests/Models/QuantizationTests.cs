using Microsoft.ML.OnnxRuntime;
using Nuansa.Checkpoints;
using Nuansa.Graphs;
using Nuansa.Graphs.Onnx;
using Nuansa.Models;

namespace Nuansa.Tests.Models;

/// <summary>Int8 dynamic quantization: the weight rounding by hand, the graph against the ONNX spec's integer arithmetic, fixtures against HF.</summary>
public class QuantizationTests
{
    [Fact]
    public void WeightsGetOneSymmetricScalePerOutputChannel()
    {
        // HF layout [out = 2, in = 3]; row 0 has max |w| 2 → scale 2/127; row 1 is all zero → scale 1.
        float[] weight = [1f, -2f, 0.5f, 0f, 0f, 0f];
        var (values, scales) = QuantizedLinear.QuantizeRows(weight, 2, 3);
        Assert.Equal([2f / 127f, 1f], scales);
        // 1/(2/127) = 63.5 → 64 (half to even), −2 → −127, 0.5 → 31.75 → 32.
        Assert.Equal([(sbyte)64, -127, 32, 0, 0, 0], values);
    }

    [Fact]
    public void GraphComputesTheOnnxIntegerArithmetic()
    {
        // y = (Σ (x_q − x_zp) · w_q) · x_scale · w_scale + b, with x quantized as DynamicQuantizeLinear defines it.
        const int rows = 5, inFeatures = 7, outFeatures = 3;
        var random = new Random(2);
        var x = Enumerable.Range(0, rows * inFeatures).Select(_ => (float)(random.NextDouble() * 3 - 1)).ToArray();
        var weight = Enumerable.Range(0, outFeatures * inFeatures).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        float[] bias = [0.1f, -0.2f, 0.3f];

        var g = new GraphBuilder("q");
        var input = g.Input("x", ElementType.Float, rows, inFeatures);
        g.Output(QuantizedLinear.Build(g, input, "layer", weight, bias, outFeatures, inFeatures), "y", ElementType.Float, rows, outFeatures);
        using var session = new InferenceSession(OnnxWriter.Serialize(g.Build()));
        using var feed = OrtValue.CreateTensorValueFromMemory(x, [rows, inFeatures]);
        using var results = session.Run(new RunOptions(), ["x"], [feed], ["y"]);
        var actual = results[0].GetTensorDataAsSpan<float>().ToArray();

        var min = Math.Min(0f, x.Min());
        var max = Math.Max(0f, x.Max());
        var xScale = (max - min) / 255f;
        var zeroPoint = (int)Math.Clamp(MathF.Round(-min / xScale, MidpointRounding.ToEven), 0, 255);
        var (wq, wScale) = QuantizedLinear.QuantizeRows(weight, outFeatures, inFeatures);
        for (var r = 0; r < rows; r++)
        {
            for (var o = 0; o < outFeatures; o++)
            {
                long sum = 0;
                for (var i = 0; i < inFeatures; i++)
                {
                    var xq = (int)Math.Clamp(MathF.Round(x[r * inFeatures + i] / xScale, MidpointRounding.ToEven) + zeroPoint, 0, 255);
                    sum += (long)(xq - zeroPoint) * wq[o * inFeatures + i];
                }
                var expected = sum * (xScale * wScale[o]) + bias[o];
                Assert.Equal(expected, actual[r * outFeatures + o], 4);
            }
        }
    }

    [Fact]
    public void EmbeddingRowsComeBackAsScaleTimesInt8()
    {
        // Rows [4, −1] (scale 4/127) and [0.5, 0.25] (scale 0.5/127); looking up ids 1, 0, 1.
        float[] table = [4f, -1f, 0.5f, 0.25f];
        var g = new GraphBuilder("e");
        var ids = g.Input("ids", ElementType.Int64, 3);
        g.Output(QuantizedLinear.Embedding(g, "emb", table, 2, 2, ids), "y", ElementType.Float, 3, 2);
        using var session = new InferenceSession(OnnxWriter.Serialize(g.Build()));
        using var feed = OrtValue.CreateTensorValueFromMemory(new long[] { 1, 0, 1 }, [3]);
        using var results = session.Run(new RunOptions(), ["ids"], [feed], ["y"]);
        var y = results[0].GetTensorDataAsSpan<float>().ToArray();
        // −1 / (4/127) = −31.75 → −32; 0.25 / (0.5/127) = 63.5 → 64 (half to even).
        float[] expected = [0.5f / 127f * 127, 0.5f / 127f * 64, 4f / 127f * 127, 4f / 127f * -32, 0.5f / 127f * 127, 0.5f / 127f * 64];
        for (var i = 0; i < expected.Length; i++)
            Assert.Equal(expected[i], y[i], 6);
    }

    public static TheoryData<string> Models() => SharedFiles.Models();

    [Theory]
    [MemberData(nameof(Models))]
    public void QuantizedFixturesStayCloseToHuggingFace(string model)
    {
        var folder = SharedFiles.Model(model);
        var config = ModelConfig.Load(folder);
        using var store = WeightStore.Open(folder);
        using var expected = SafeTensorsFile.Open(Path.Combine(folder, "expected.safetensors"));
        var graph = SequenceClassifier.Build(config, store, new GraphOptions { Quantization = Quantization.Int8 });
        Assert.Contains(graph.Nodes, n => n.OpType == "MatMulInteger");
        Assert.DoesNotContain(graph.Initializers, t => t.Name.EndsWith(".layer.0.attention.output.dense.weight", StringComparison.Ordinal)
            || t.Name.EndsWith("lin1.weight", StringComparison.Ordinal) || t.Name.EndsWith("word_embeddings.weight", StringComparison.Ordinal));
        using var session = new OnnxSession(graph);
        var shape = expected.GetInfo("input_ids").Shape.ToArray();
        var inputs = new Dictionary<string, long[]> { ["input_ids"] = expected.ReadInt64("input_ids"), ["attention_mask"] = expected.ReadInt64("attention_mask") };
        if (SequenceClassifier.UsesTokenTypes(config))
            inputs["token_type_ids"] = expected.ReadInt64("token_type_ids");
        var actual = session.Run(inputs, shape, ["logits"])[0].Values;
        var reference = expected.ReadSingle("logits_batch");
        // int8 moves logits by a few percent of their spread (these random fixtures have logits close together); what must not move is the predicted label where HF's is clear.
        var spread = reference.Max() - reference.Min();
        for (var i = 0; i < reference.Length; i++)
            Assert.True(Math.Abs(reference[i] - actual[i]) <= 0.08 * spread, $"{model} logit {i}: {actual[i]} vs HF {reference[i]} (spread {spread})");
    }
}
