using Microsoft.ML.OnnxRuntime;
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

        // Reduced range (±64): scale 2/64; 1 → 32, −2 → −64, 0.5 → 16.
        (values, scales) = QuantizedLinear.QuantizeRows(weight, 2, 3, Int8Kernels.Levels(Int8Weights.ReducedRange));
        Assert.Equal([2f / 64f, 1f], scales);
        Assert.Equal([(sbyte)32, -64, 16, 0, 0, 0], values);
        // 0.3 of a maximum 1: 0.3 · 64 = 19.2 → 19; 0.3 · 127 = 38.1 → 38.
        Assert.Equal([(sbyte)19, 64], QuantizedLinear.QuantizeRows([0.3f, 1f], 1, 2, 64).Values);
        Assert.Equal([(sbyte)38, 127], QuantizedLinear.QuantizeRows([0.3f, 1f], 1, 2, 127).Values);
    }

    [Fact]
    public void FullRangeIsExactExactlyWhereTheCpuHasInt8DotProducts()
    {
        // The probe runs ONNX Runtime; CPUID is read independently. On AVX2-only x64 CPUs ORT's u8·s8 kernel sums
        // pairs of products in 16 bits and the probe must see it; with VNNI it must see exact sums.
        Assert.Equal(Int8Kernels.CpuHasDotProducts, Int8Kernels.FullRangeIsExact);
        Assert.Equal(Int8Kernels.FullRangeIsExact ? Int8Weights.FullRange : Int8Weights.ReducedRange, Int8Kernels.Resolve(Int8Weights.Auto));
        Assert.Equal(Int8Weights.ReducedRange, Int8Kernels.Resolve(Int8Weights.ReducedRange));
        Assert.Contains(Int8Kernels.CpuFeatures, Int8Kernels.Explain(Int8Kernels.Resolve(Int8Weights.Auto)), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(Int8Weights.ReducedRange, false)]
    [InlineData(Int8Weights.ReducedRange, true)]
    [InlineData(Int8Weights.FullRange, false)]
    [InlineData(Int8Weights.FullRange, true)]
    public void GraphComputesTheOnnxIntegerArithmetic(Int8Weights form, bool extreme)
    {
        // y = (Σ (x_q − x_zp) · w_q) · x_scale · w_scale + b, with x quantized as DynamicQuantizeLinear defines it.
        // "extreme" inputs put activations at 255 beside weights at the top level: the case 16-bit pair sums get wrong.
        const int rows = 5, inFeatures = 37, outFeatures = 3;
        var random = new Random(2);
        var x = Enumerable.Range(0, rows * inFeatures).Select(i => extreme ? (i % 5 == 4 ? -0.01f : 2f) : (float)(random.NextDouble() * 3 - 1)).ToArray();
        var weight = Enumerable.Range(0, outFeatures * inFeatures).Select(i => extreme ? (i % 3 == 0 ? 0.5f : -0.5f + 0.001f * (i % 7)) : (float)(random.NextDouble() - 0.5)).ToArray();
        float[] bias = [0.1f, -0.2f, 0.3f];

        var g = new GraphBuilder("q");
        var input = g.Input("x", ElementType.Float, rows, inFeatures);
        g.Output(QuantizedLinear.Build(g, input, "layer", weight, bias, outFeatures, inFeatures, form), "y", ElementType.Float, rows, outFeatures);
        using var session = new InferenceSession(OnnxWriter.Serialize(g.Build()));
        using var feed = OrtValue.CreateTensorValueFromMemory(x, [rows, inFeatures]);
        using var results = session.Run(new RunOptions(), ["x"], [feed], ["y"]);
        var actual = results[0].GetTensorDataAsSpan<float>().ToArray();

        var min = Math.Min(0f, x.Min());
        var max = Math.Max(0f, x.Max());
        var xScale = (max - min) / 255f;
        var zeroPoint = (int)Math.Clamp(MathF.Round(-min / xScale, MidpointRounding.ToEven), 0, 255);
        var (wq, wScale) = QuantizedLinear.QuantizeRows(weight, outFeatures, inFeatures, Int8Kernels.Levels(form));
        var exact = form == Int8Weights.ReducedRange || Int8Kernels.FullRangeIsExact;
        var mismatches = 0;
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
                if (exact)
                    Assert.Equal(expected, actual[r * outFeatures + o], 4);
                else if (Math.Abs(expected - actual[r * outFeatures + o]) > 1e-3)
                    mismatches++;
            }
        }
        // Where full range is not exact (AVX2 without VNNI), the extreme case must show it: Auto never picks it there.
        if (!exact && extreme)
            Assert.True(mismatches > 0, "full-range int8 was exact on a CPU the probe found inexact");
        if (!exact)
            Assert.Equal(Int8Weights.ReducedRange, Int8Kernels.Resolve(Int8Weights.Auto));
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

    public static TheoryData<string, Int8Weights> ModelsAndForms()
    {
        var data = new TheoryData<string, Int8Weights>();
        foreach (var model in SharedFiles.ModelNames)
        {
            // Every form that is exact on this CPU: the reduced form always, the full form where the CPU has VNNI.
            data.Add(model, Int8Weights.ReducedRange);
            data.Add(model, Int8Weights.Auto);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(ModelsAndForms))]
    public void QuantizedFixturesStayCloseToHuggingFace(string model, Int8Weights form)
    {
        using var fixture = SharedFiles.OpenFixture(model);
        var (config, store, expected) = fixture;
        var graph = SequenceClassifier.Build(config, store, new GraphOptions { Quantization = Quantization.Int8, Int8Weights = form });
        Assert.Contains(graph.Nodes, n => n.OpType == "MatMulInteger");
        var levels = Int8Kernels.Levels(Int8Kernels.Resolve(form));
        Assert.Equal(levels, graph.Initializers.Where(t => t.Name.EndsWith(".weight_quantized", StringComparison.Ordinal) && !t.Name.Contains("embeddings", StringComparison.Ordinal))
            .Max(t => t.SBytes!.Max(v => Math.Abs((int)v))));
        Assert.StartsWith(levels == 64 ? "reduced_range" : "full_range", graph.Metadata["nuansa.int8_weights"], StringComparison.Ordinal);
        Assert.DoesNotContain(graph.Initializers, t => t.Name.EndsWith(".layer.0.attention.output.dense.weight", StringComparison.Ordinal)
            || t.Name.EndsWith("lin1.weight", StringComparison.Ordinal) || t.Name.EndsWith("word_embeddings.weight", StringComparison.Ordinal));
        using var session = new OnnxSession(graph);
        var (inputs, shape) = SharedFiles.PaddedBatch(expected, config);
        var actual = session.Run(inputs, shape, ["logits"])[0].Values;
        var reference = expected.ReadSingle("logits_batch");
        // int8 moves logits by a few percent of their spread (these random fixtures have logits close together); what must not move is the predicted label where HF's is clear.
        var spread = reference.Max() - reference.Min();
        for (var i = 0; i < reference.Length; i++)
            Assert.True(Math.Abs(reference[i] - actual[i]) <= 0.08 * spread, $"{model} logit {i}: {actual[i]} vs HF {reference[i]} (spread {spread})");
    }

    [Theory]
    [MemberData(nameof(ModelsAndForms))]
    public void FusedInt8AttentionComputesWhatTheStandardOperatorsDo(string model, Int8Weights form)
    {
        // QAttention quantizes x once for the merged query/key/value product; each product's integers and scales are
        // the separate linears' own, so only the float rounding of the attention itself may differ.
        using var fixture = SharedFiles.OpenFixture(model);
        var (config, store, expected) = fixture;
        var (inputs, shape) = SharedFiles.PaddedBatch(expected, config);
        float[] Logits(bool fused)
        {
            var graph = SequenceClassifier.Build(config, store, new GraphOptions { Quantization = Quantization.Int8, Int8Weights = form, Fused = fused });
            // Every layer but the last, whose query is the first token alone.
            Assert.Equal(fused ? config.NumHiddenLayers - 1 : 0, graph.Nodes.Count(n => n is { Domain: "com.microsoft", OpType: "QAttention" }));
            using var session = new OnnxSession(graph);
            return session.Run(inputs, shape, ["logits"])[0].Values;
        }
        var standard = Logits(fused: false);
        var fused = Logits(fused: true);
        for (var i = 0; i < standard.Length; i++)
            Assert.True(Math.Abs(standard[i] - fused[i]) <= 1e-4, $"{model} logit {i}: fused {fused[i]} vs standard {standard[i]}");
    }
}
