using System.Text.Json;
using Nuansa.Checkpoints;
using Nuansa.Graphs.Onnx;
using Nuansa.Models;

namespace Nuansa.Tests.Models;

/// <summary>Logits and hidden states of Nuansa's graphs against HF's, for every model fixture, in the portable and the fused (ONNX Runtime contrib operators) form.</summary>
public class ForwardParityTests
{
    public static TheoryData<string, bool> Models()
    {
        var data = new TheoryData<string, bool>();
        foreach (var model in SharedFiles.ModelNames)
        {
            data.Add(model, false);
            data.Add(model, true);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void PaddedBatchMatchesHuggingFace(string model, bool fused)
    {
        using var fixture = SharedFiles.OpenFixture(model);
        var (config, store, expected) = fixture;
        var graph = SequenceClassifier.Build(config, store, new GraphOptions { HiddenStates = true, Fused = fused });
        Assert.Equal(fused ? config.NumHiddenLayers : 0, graph.Nodes.Count(n => n is { Domain: "com.microsoft", OpType: "Attention" }));
        using var session = new OnnxSession(graph);

        var (inputs, shape) = SharedFiles.PaddedBatch(expected, config);
        var mask = inputs["attention_mask"];
        var names = new List<string> { "logits" };
        names.AddRange(Enumerable.Range(0, config.NumHiddenLayers + 1).Select(i => $"hidden_states.{i}"));
        var outputs = session.Run(inputs, shape, names);

        AssertClose(expected.ReadSingle("logits_batch"), outputs[0].Values, 1e-4, $"{model} logits");

        // Without hidden states the last layer computes the first token's row alone: the same logits.
        var logitsOnly = SequenceClassifier.Build(config, store, new GraphOptions { Fused = fused });
        Assert.Equal(fused ? config.NumHiddenLayers - 1 : 0, logitsOnly.Nodes.Count(n => n is { Domain: "com.microsoft", OpType: "Attention" }));
        using (var logitsSession = new OnnxSession(logitsOnly))
            AssertClose(expected.ReadSingle("logits_batch"), logitsSession.Run(inputs, shape, ["logits"])[0].Values, 1e-4, $"{model} logits, first token only");
        var hidden = config.HiddenSize;
        for (var layer = 0; layer <= config.NumHiddenLayers; layer++)
        {
            var reference = expected.ReadSingle($"hidden_states.{layer}");
            var actual = outputs[layer + 1].Values;
            for (var position = 0; position < mask.Length; position++)
            {
                if (mask[position] == 0)
                    continue; // padded positions are not meaningful
                for (var k = 0; k < hidden; k++)
                {
                    var i = position * hidden + k;
                    Assert.True(Math.Abs(reference[i] - actual[i]) <= 1e-4, $"{model} hidden_states.{layer} [{position / shape[1]},{position % shape[1]},{k}]: {actual[i]} vs {reference[i]}");
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void EachInputAloneMatchesHuggingFace(string model, bool fused)
    {
        var folder = SharedFiles.Model(model);
        var config = ModelConfig.Load(folder);
        using var store = WeightStore.Open(folder);
        using var session = new OnnxSession(SequenceClassifier.Build(config, store, new GraphOptions { Fused = fused }));
        using var inputsJson = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(folder, "inputs.json")));
        using var expectedJson = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(folder, "expected.json")));
        var single = expectedJson.RootElement.GetProperty("logits_single").EnumerateArray().ToArray();
        var unpadded = inputsJson.RootElement.GetProperty("unpadded").EnumerateArray().ToArray();
        for (var i = 0; i < unpadded.Length; i++)
        {
            var ids = unpadded[i].GetProperty("input_ids").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            var inputs = new Dictionary<string, long[]>
            {
                ["input_ids"] = ids,
                ["attention_mask"] = unpadded[i].GetProperty("attention_mask").EnumerateArray().Select(e => e.GetInt64()).ToArray(),
            };
            if (Architecture.For(config).UsesTokenTypes)
                inputs["token_type_ids"] = unpadded[i].GetProperty("token_type_ids").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            var logits = session.Run(inputs, [1, ids.Length], ["logits"])[0].Values;
            AssertClose(single[i].EnumerateArray().Select(e => e.GetSingle()).ToArray(), logits, 1e-4, $"{model} input {i}");
        }
    }

    [Fact]
    public void LargeModelsLoadThroughAMappedExternalDataFileThatIsDeletedAtOnce()
    {
        // Past the inline limit (base-size models and up; forced here) weights go through an external-data file
        // that ONNX Runtime maps; the file is gone once the session exists, and the session still runs.
        var temporary = Directory.CreateTempSubdirectory("nuansa-test-").FullName;
        try
        {
            AssertRobertaLogits(new SessionSettings { InlineWeightLimit = 0, TemporaryFolder = temporary }, "external data",
                afterLoad: () => Assert.Empty(Directory.GetFileSystemEntries(temporary)));
        }
        finally
        {
            Directory.Delete(temporary, recursive: true);
        }
    }

    [Fact]
    public void AModelLoadsFromMemoryWhenItsTemporaryFileCannotBeWritten()
    {
        var notAFolder = Path.GetTempFileName();
        try
        {
            AssertRobertaLogits(new SessionSettings { InlineWeightLimit = 0, TemporaryFolder = notAFolder }, "weights from memory",
                afterLoad: () => Assert.True(File.Exists(notAFolder)));
        }
        finally
        {
            File.Delete(notAFolder);
        }
    }

    private static void AssertRobertaLogits(SessionSettings settings, string what, Action afterLoad)
    {
        using var fixture = SharedFiles.OpenFixture("roberta-2label");
        var (config, store, expected) = fixture;
        using var session = new OnnxSession(SequenceClassifier.Build(config, store), settings);
        afterLoad();
        var (inputs, shape) = SharedFiles.PaddedBatch(expected, config);
        AssertClose(expected.ReadSingle("logits_batch"), session.Run(inputs, shape, ["logits"])[0].Values, 1e-4, what);
    }

    private static void AssertClose(float[] expected, float[] actual, double tolerance, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance, $"{what} [{i}]: {actual[i]} vs {expected[i]}");
    }
}
