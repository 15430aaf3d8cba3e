using System.Text.Json;
using InferenceSession = Microsoft.ML.OnnxRuntime.InferenceSession;
using OrtValue = Microsoft.ML.OnnxRuntime.OrtValue;
using RunOptions = Microsoft.ML.OnnxRuntime.RunOptions;
using Nuansa.Checkpoints;
using Nuansa.Graphs;
using Nuansa.Graphs.Autodiff;
using Nuansa.Graphs.Onnx;
using Nuansa.Models;
using Nuansa.Training;

namespace Nuansa.Tests.Training;

/// <summary>The HF/PyTorch training record: step-1 loss, logits and gradients; parameters after 3 AdamW steps.</summary>
public class TrainingStepTests
{
    private static string Record => Path.Combine(SharedFiles.Fixtures, "training", "bert-2label-adamw");

    private sealed class Fixture : IDisposable
    {
        public Fixture()
        {
            Json = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Record, "training.json")));
            var batch = Json.RootElement.GetProperty("batch");
            long[] Flat(string name) => [.. batch.GetProperty(name).EnumerateArray().SelectMany(r => r.EnumerateArray().Select(v => v.GetInt64()))];
            var ids = Flat("input_ids");
            var rows = batch.GetProperty("input_ids").GetArrayLength();
            Batch = new TrainingBatch(ids, Flat("attention_mask"), Flat("token_type_ids"),
                [.. batch.GetProperty("labels").EnumerateArray().Select(v => v.GetInt64())], rows, ids.Length / rows);
            ClassWeights = [.. Json.RootElement.GetProperty("loss").GetProperty("weight").EnumerateArray().Select(v => v.GetSingle())];
            var folder = SharedFiles.Model("bert-2label");
            using var store = WeightStore.Open(folder);
            Graph = TrainingGraph.ForCrossEntropy(ModelConfig.Load(folder), store);
            Session = new TrainingSession(Graph);
            Parameters = Graph.Parameters.ToDictionary(p => p.Name, p => Graph.InitialValues[p.Name].ToArray());
        }

        public JsonDocument Json { get; }
        public TrainingBatch Batch { get; }
        public float[] ClassWeights { get; }
        public TrainingGraph Graph { get; }
        public TrainingSession Session { get; }
        public Dictionary<string, float[]> Parameters { get; }
        public JsonElement Root => Json.RootElement;
        public HashSet<string?> KeyBiases => [.. Root.GetProperty("tolerance").GetProperty("exceptions").GetProperty("params").EnumerateArray().Select(e => e.GetString())];

        public void Dispose()
        {
            Session.Dispose();
            Json.Dispose();
        }
    }

    [Fact]
    public void LossLogitsAndGradientsMatchPyTorch()
    {
        using var f = new Fixture();
        var result = f.Session.Run(f.Batch, f.Parameters, f.ClassWeights);
        var step1 = f.Root.GetProperty("steps")[0];
        Assert.Equal(step1.GetProperty("loss").GetSingle(), result.Loss, 5);
        var expectedLogits = step1.GetProperty("logits").EnumerateArray().SelectMany(r => r.EnumerateArray().Select(v => v.GetSingle())).ToArray();
        for (var i = 0; i < expectedLogits.Length; i++)
            Assert.True(Math.Abs(expectedLogits[i] - result.Logits[i]) <= 1e-5, $"logit {i}");

        using var grads = SafeTensorsFile.Open(Path.Combine(Record, "grads_step1.safetensors"));
        for (var k = 0; k < f.Graph.Parameters.Count; k++)
        {
            var p = f.Graph.Parameters[k];
            var actual = result.Gradients[k];
            float[] expected;
            if (p.Name == "bert.embeddings.word_embeddings.weight")
            {
                expected = new float[actual.Length];
                var nonzero = grads.ReadInt64($"{p.Name}.nonzero_rows");
                var values = grads.ReadSingle($"{p.Name}.nonzero_row_values");
                var hidden = (int)p.Shape[1];
                for (var r = 0; r < nonzero.Length; r++)
                    Array.Copy(values, r * hidden, expected, nonzero[r] * hidden, hidden);
            }
            else
            {
                expected = grads.ReadSingle(p.Name);
            }
            for (var i = 0; i < actual.Length; i++)
            {
                if (f.KeyBiases.Contains(p.Name))
                    Assert.True(Math.Abs(actual[i]) <= 1e-6, $"{p.Name}[{i}] should be ~0: {actual[i]}");
                else
                    Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-5, $"{p.Name}[{i}]: {actual[i]} vs {expected[i]}");
            }
        }
        var norm = GradientClipping.ClipByGlobalNorm([.. result.Gradients], 1.0);
        Assert.Equal(step1.GetProperty("grad_total_norm_before_clip").GetDouble(), norm, 4);
    }

    [Fact]
    public void ThreeAdamWStepsMatchPyTorch()
    {
        using var f = new Fixture();
        var optimizer = f.Root.GetProperty("optimizer");
        var adam = new AdamW(new AdamWOptions
        {
            Beta1 = optimizer.GetProperty("betas")[0].GetDouble(),
            Beta2 = optimizer.GetProperty("betas")[1].GetDouble(),
            Epsilon = optimizer.GetProperty("eps").GetDouble(),
            WeightDecay = 0.01,
        });
        var schedule = new LearningRateSchedule(ScheduleType.Linear, warmupSteps: 1, totalSteps: 3);
        var baseRate = optimizer.GetProperty("lr").GetDouble();
        var steps = f.Root.GetProperty("steps").EnumerateArray().ToArray();
        for (var step = 1; step <= 3; step++)
        {
            var result = f.Session.Run(f.Batch, f.Parameters, f.ClassWeights);
            Assert.Equal(steps[step - 1].GetProperty("loss").GetSingle(), result.Loss, 5);
            var lr = schedule.LearningRate(baseRate, step);
            Assert.Equal(steps[step - 1].GetProperty("lr").GetDouble(), lr, 12);
            GradientClipping.ClipByGlobalNorm([.. result.Gradients], 1.0);
            adam.Update(f.Graph.Parameters.Select((p, i) => (p.Name, f.Parameters[p.Name], result.Gradients[i], p.Decays)), lr);
        }

        using var expected = SafeTensorsFile.Open(Path.Combine(Record, "params_after_step3.safetensors"));
        foreach (var p in f.Graph.Parameters)
        {
            var reference = expected.ReadSingle(p.Name);
            var tolerance = f.KeyBiases.Contains(p.Name) ? 2e-3 : 2e-5;
            var actual = f.Parameters[p.Name];
            for (var i = 0; i < actual.Length; i++)
                Assert.True(Math.Abs(reference[i] - actual[i]) <= tolerance, $"{p.Name}[{i}]: {actual[i]} vs {reference[i]}");
        }
        var after = f.Session.Run(f.Batch, f.Parameters, f.ClassWeights);
        Assert.Equal(f.Root.GetProperty("loss_after_step3").GetSingle(), after.Loss, 5);
    }

    [Theory]
    [InlineData("bert")]
    [InlineData("distilbert")]
    [InlineData("roberta")]
    public void GradientsReadNoLayerActivationShapesAtRunTime(string modelType)
    {
        // ONNX Runtime runs a Shape node of an activation when the backward pass gets to it and keeps the whole
        // activation alive until then. Gradients are summed and reshaped with the shapes the graph builder inferred,
        // so such nodes do not grow in number with the layers.
        int ShapeNodesOnActivations(int layers)
        {
            using var folder = new TempDirectory();
            var config = ModelInitializer.CreateConfig(new NewModelOptions
            {
                ModelType = modelType, Labels = ["a", "b"], HiddenSize = 32, NumHiddenLayers = layers, NumAttentionHeads = 2, MaxPositionEmbeddings = 64,
            }, vocabSize: 100, padTokenId: 1);
            SafeTensorsWriter.Write(folder.File("model.safetensors"), ModelInitializer.CreateWeights(config, 1));
            using var store = WeightStore.Open(folder.File("model.safetensors"));
            var graph = TrainingGraph.ForCrossEntropy(config, store).Graph;
            var computed = graph.Nodes.SelectMany(n => n.Outputs).ToHashSet();
            return graph.Nodes.Count(n => n.OpType == "Shape" && computed.Contains(n.Inputs[0]));
        }
        Assert.Equal(ShapeNodesOnActivations(1), ShapeNodesOnActivations(3));
    }

    [Fact]
    public void DropoutMasksFollowTheConfigTheSeedAndTheStep()
    {
        // bert-pair-3label keeps HF's 0.1 dropout: masks change with the step and the seed, and repeat for the same step.
        using var f = new Fixture();
        var folder = SharedFiles.Model("bert-pair-3label");
        var config = ModelConfig.Load(folder);
        using var store = WeightStore.Open(folder);
        float[] Losses(int seed)
        {
            var graph = TrainingGraph.ForCrossEntropy(config, store);
            Assert.Equal(config.NumHiddenLayers * 3 + 2, graph.DropoutMasks.Count);
            using var session = new TrainingSession(graph, seed: seed);
            var batch = f.Batch with { Labels = [.. f.Batch.Labels.Select(l => l % 3)] };
            return [.. new[] { 1, 2, 1 }.Select(step => session.Run(batch, graph.InitialValues, [1f, 1f, 1f], step).Loss)];
        }
        var first = Losses(7);
        Assert.NotEqual(first[0], first[1]);
        Assert.Equal(first[0], first[2]);
        Assert.Equal(first, Losses(7));
        Assert.NotEqual(first, Losses(8));

        // The masks keep each element with probability 1 − p.
        var masks = DropoutMaskSampler.Sample(TrainingGraph.ForCrossEntropy(config, store), 7, 1, 8, 32);
        var keep = masks.SelectMany(m => m.Keep).ToArray();
        Assert.InRange(keep.Count(k => !k) / (double)keep.Length, 0.09, 0.11);
    }

    [Fact]
    public void DropoutScalesTheKeptElementsAsTorchAndPassesGradientsThroughThemOnly()
    {
        var g = new GraphBuilder("dropout");
        var weights = ModelWeights.Recorder("");
        var x = g.Input("x", ElementType.Float, 4, 50);
        var y = Transformer.Dropout(g, weights, x, 0.1, new GraphOptions { Training = true });
        var grads = Autodiff.AddGradients(g, g.ReduceSum(y, [0, 1], keepDims: false), [x]);
        g.Output(y, "y", ElementType.Float, 4, 50);
        g.Output(grads[x], "grad", ElementType.Float, 4, 50);
        using var session = new InferenceSession(OnnxWriter.Serialize(g.Build()));
        var values = Enumerable.Range(1, 200).Select(i => i / 7f).ToArray();
        var keep = new bool[200];
        DropoutMaskSampler.Fill(keep, 0.1, seed: 1, step: 1, index: 0);
        using var input = OrtValue.CreateTensorValueFromMemory(values, [4, 50]);
        using var mask = OrtValue.CreateTensorValueFromMemory(keep, [4, 50]);
        using var results = session.Run(new RunOptions(), ["x", weights.DropoutMasks[0].Name], [input, mask], ["y", "grad"]);
        var (output, grad) = (results[0].GetTensorDataAsSpan<float>().ToArray(), results[1].GetTensorDataAsSpan<float>().ToArray());
        Assert.Contains(false, keep);
        var scale = (float)(1 / (1 - 0.1)); // torch multiplies by the float32 of 1/(1 − p)
        for (var i = 0; i < values.Length; i++)
        {
            Assert.Equal(keep[i] ? values[i] * scale : 0f, output[i]);
            Assert.Equal(keep[i] ? scale : 0f, grad[i]);
        }
    }

    [Theory]
    [InlineData(ScheduleType.Linear, 2, 10, new[] { 0.0, 0.5, 1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125 })]
    [InlineData(ScheduleType.Constant, 2, 4, new[] { 1.0, 1.0, 1.0, 1.0 })]
    [InlineData(ScheduleType.ConstantWithWarmup, 2, 4, new[] { 0.0, 0.5, 1.0, 1.0 })]
    [InlineData(ScheduleType.Cosine, 0, 4, new[] { 1.0, 0.8535533905932737, 0.5, 0.14644660940672624 })]
    public void SchedulesFollowHuggingFace(ScheduleType type, int warmup, int total, double[] expected)
    {
        // Hand-computed from HF's lr_lambda for scheduler steps 0..total-1 (the multipliers of optimizer steps 1..total).
        var schedule = new LearningRateSchedule(type, warmup, total);
        for (var s = 0; s < total; s++)
            Assert.Equal(expected[s], schedule.Multiplier(s), 12);
        Assert.Equal(3, LearningRateSchedule.WarmupFromRatio(0.1, 21));
    }

    [Fact]
    public void ClippingScalesOnlyWhenTheNormExceedsTheLimit()
    {
        float[] a = [3f, 0f];
        float[] b = [0f, 4f];
        Assert.Equal(5.0, GradientClipping.ClipByGlobalNorm([a, b], 1.0), 6);
        Assert.Equal(3f / (5f + 1e-6f), a[0], 6);
        Assert.Equal(4f / (5f + 1e-6f), b[1], 6);
        float[] small = [0.3f, 0.4f];
        Assert.Equal(0.5, GradientClipping.ClipByGlobalNorm([small], 1.0), 6);
        Assert.Equal([0.3f, 0.4f], small);
    }

    [Fact]
    public void AdamWGivesTheScalarFormulaBitForBitOnLongTensors()
    {
        // Long enough for several parallel chunks, odd so the vector loop leaves a scalar tail.
        const int n = 3 * 65536 + 13;
        var random = new Random(3);
        float[] Random() => [.. Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() - 0.5))];
        var p = Random();
        var (g1, g2) = (Random(), Random());
        var expected = p.ToArray();
        var (m, v) = (new float[n], new float[n]);
        var adam = new AdamW(new AdamWOptions { WeightDecay = 0.01 });
        foreach (var (t, g, lr) in new[] { (1, g1, 1e-3), (2, g2, 5e-4) })
        {
            adam.Update([("w", p, g, true)], lr);
            var stepSize = (float)(lr / (1 - Math.Pow(0.9, t)));
            var correction2 = (float)Math.Sqrt(1 - Math.Pow(0.999, t));
            var decay = (float)(1 - lr * 0.01);
            for (var i = 0; i < n; i++)
            {
                expected[i] *= decay;
                m[i] = m[i] * 0.9f + g[i] * (float)(1 - 0.9);
                v[i] = v[i] * 0.999f + g[i] * g[i] * (float)(1 - 0.999);
                expected[i] += -stepSize * (m[i] / (MathF.Sqrt(v[i]) / correction2 + 1e-8f));
            }
        }
        Assert.Equal(expected, p);
        Assert.Equal(m, adam.Moments["w"].M);
        Assert.Equal(v, adam.Moments["w"].V);
    }

    [Fact]
    public void ClippingLongTensorsMatchesADoubleSum()
    {
        var random = new Random(5);
        float[][] gradients = [[.. Enumerable.Range(0, 200_001).Select(_ => (float)(random.NextDouble() - 0.5))], [2f, -1f]];
        var expected = Math.Sqrt(gradients.Sum(g => (double)(float)Math.Sqrt(g.Sum(x => (double)x * x)) * (float)Math.Sqrt(g.Sum(x => (double)x * x))));
        var before = gradients[0][123_456];
        var norm = GradientClipping.ClipByGlobalNorm(gradients, 1.0);
        Assert.Equal(expected, norm, 1e-4);
        Assert.Equal(before * (float)(1.0 / (norm + 1e-6)), gradients[0][123_456], 1e-7);
    }

    [Fact]
    public void DropoutMasksAreThePureFunctionOfSeedStepAndIndex()
    {
        // Filled in parallel chunks: the same mask whatever the buffer's history, a different one for another mask index.
        var a = new bool[300_001];
        var b = Enumerable.Repeat(true, 300_001).ToArray();
        DropoutMaskSampler.Fill(a, 0.5, seed: 1, step: 3, index: 2);
        DropoutMaskSampler.Fill(b, 0.5, seed: 1, step: 3, index: 2);
        Assert.Equal(a, b);
        Assert.InRange(a.Count(x => !x) / (double)a.Length, 0.497, 0.503);
        DropoutMaskSampler.Fill(b, 0.5, seed: 1, step: 3, index: 3);
        Assert.InRange(a.Zip(b).Count(x => x.First == x.Second) / (double)a.Length, 0.49, 0.51);
        Assert.Throws<ArgumentOutOfRangeException>(() => DropoutMaskSampler.Fill(a, 1.0, 1, 1, 0));
    }

    [Fact]
    public void GradientsAreWrittenIntoTheCallersBuffers()
    {
        using var f = new Fixture();
        var fresh = f.Session.Run(f.Batch, f.Parameters, f.ClassWeights);
        var buffers = f.Graph.Parameters.Select(p => Enumerable.Repeat(float.NaN, (int)p.ElementCount).ToArray()).ToArray();
        var result = f.Session.Run(f.Batch, f.Parameters, f.ClassWeights, 1, buffers);
        Assert.Same(buffers, result.Gradients);
        for (var k = 0; k < buffers.Length; k++)
            Assert.Equal(fresh.Gradients[k], buffers[k]);
        Assert.Equal(fresh.Loss, result.Loss);
        var wrong = buffers.ToArray();
        wrong[0] = new float[1];
        Assert.Throws<ArgumentException>(() => f.Session.Run(f.Batch, f.Parameters, f.ClassWeights, 1, wrong));
    }
}
