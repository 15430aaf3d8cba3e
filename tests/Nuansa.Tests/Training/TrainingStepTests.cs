using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Nuansa.Checkpoints;
using Nuansa.Graphs.Onnx;
using Nuansa.Training;

namespace Nuansa.Tests.Training;

/// <summary>The step-1 loss, logits and every parameter gradient of the HF/PyTorch training record.</summary>
public class TrainingStepTests
{
    private static string Record => Path.Combine(SharedFiles.Fixtures, "training", "bert-2label-adamw");

    [Fact]
    public void LossLogitsAndGradientsMatchPyTorch()
    {
        using var json = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Record, "training.json")));
        var root = json.RootElement;
        var batch = root.GetProperty("batch");
        var folder = SharedFiles.Model("bert-2label");
        var config = ModelConfig.Load(folder);
        using var store = WeightStore.Open(folder);
        var training = TrainingGraph.ForCrossEntropy(config, store);
        using var session = new InferenceSession(OnnxWriter.Serialize(training.Graph));

        long[] Flat(string name) => [.. batch.GetProperty(name).EnumerateArray().SelectMany(r => r.EnumerateArray().Select(v => v.GetInt64()))];
        var ids = Flat("input_ids");
        var rows = batch.GetProperty("input_ids").GetArrayLength();
        long[] shape = [rows, ids.Length / rows];
        var feeds = new Dictionary<string, OrtValue>
        {
            ["input_ids"] = OrtValue.CreateTensorValueFromMemory(ids, shape),
            ["attention_mask"] = OrtValue.CreateTensorValueFromMemory(Flat("attention_mask"), shape),
            ["token_type_ids"] = OrtValue.CreateTensorValueFromMemory(Flat("token_type_ids"), shape),
            ["labels"] = OrtValue.CreateTensorValueFromMemory(batch.GetProperty("labels").EnumerateArray().Select(v => v.GetInt64()).ToArray(), [rows]),
            ["class_weights"] = OrtValue.CreateTensorValueFromMemory(root.GetProperty("loss").GetProperty("weight").EnumerateArray().Select(v => v.GetSingle()).ToArray(), [2]),
        };
        foreach (var p in training.Parameters)
            feeds[p.Name] = OrtValue.CreateTensorValueFromMemory(training.InitialValues[p.Name], p.Shape);
        var outputs = new List<string> { "loss", "logits" };
        outputs.AddRange(training.Parameters.Select(p => TrainingGraph.GradientName(p.Name)));
        using var results = session.Run(new RunOptions(), [.. feeds.Keys], [.. feeds.Values], outputs);

        var step1 = root.GetProperty("steps")[0];
        Assert.Equal(step1.GetProperty("loss").GetSingle(), results[0].GetTensorDataAsSpan<float>()[0], 5);
        var logits = results[1].GetTensorDataAsSpan<float>().ToArray();
        var expectedLogits = step1.GetProperty("logits").EnumerateArray().SelectMany(r => r.EnumerateArray().Select(v => v.GetSingle())).ToArray();
        for (var i = 0; i < logits.Length; i++)
            Assert.True(Math.Abs(expectedLogits[i] - logits[i]) <= 1e-5, $"logit {i}");

        using var grads = SafeTensorsFile.Open(Path.Combine(Record, "grads_step1.safetensors"));
        var keyBiases = root.GetProperty("tolerance").GetProperty("exceptions").GetProperty("params").EnumerateArray().Select(e => e.GetString()).ToHashSet();
        double squaredNorm = 0;
        for (var k = 0; k < training.Parameters.Count; k++)
        {
            var p = training.Parameters[k];
            var actual = results[k + 2].GetTensorDataAsSpan<float>().ToArray();
            squaredNorm += actual.Sum(v => (double)v * v);
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
                if (keyBiases.Contains(p.Name))
                    Assert.True(Math.Abs(actual[i]) <= 1e-6, $"{p.Name}[{i}] should be ~0: {actual[i]}");
                else
                    Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-5, $"{p.Name}[{i}]: {actual[i]} vs {expected[i]}");
            }
        }
        Assert.Equal(step1.GetProperty("grad_total_norm_before_clip").GetDouble(), Math.Sqrt(squaredNorm), 4);
        foreach (var v in feeds.Values)
            v.Dispose();
    }
}
