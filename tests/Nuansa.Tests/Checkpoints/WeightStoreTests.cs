using Nuansa.Checkpoints;
using Nuansa.Models;

namespace Nuansa.Tests.Checkpoints;

public class WeightStoreTests
{
    public static TheoryData<string> Models() => SharedFiles.Models();

    [Theory]
    [MemberData(nameof(Models))]
    public void HoldsExactlyTheStateDictHuggingFaceWrites(string model)
    {
        var config = ModelConfig.Load(SharedFiles.Model(model));
        using var weights = WeightStore.Open(SharedFiles.Model(model));
        var expected = Architecture.For(config).Parameters(config).Select(p => (p.Name, p.Shape)).OrderBy(p => p.Name, StringComparer.Ordinal).ToArray();
        var actual = weights.Tensors.Select(t => (t.Name, Shape: t.Shape.ToArray())).OrderBy(p => p.Name, StringComparer.Ordinal).ToArray();
        Assert.Equal(expected.Select(e => e.Name), actual.Select(a => a.Name));
        for (var i = 0; i < expected.Length; i++)
            Assert.True(expected[i].Shape.SequenceEqual(actual[i].Shape), $"{expected[i].Name}: [{string.Join(",", actual[i].Shape)}]");
        Assert.Equal(expected.Sum(e => e.Shape.Aggregate(1L, (a, b) => a * b)), weights.ParameterCount);
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void WeightsReproduceTheReferenceEmbeddingOutput(string model)
    {
        // hidden_states.0 in expected.safetensors is HF's embedding output, LayerNorm(word + position [+ token type]),
        // computed from these very weights (F16/BF16 upcast to float32). Recomputing it here checks the decoded values.
        using var fixture = SharedFiles.OpenFixture(model);
        var (config, weights, expected) = fixture;
        var prefix = config.ModelType switch { "distilbert" => "distilbert", "bert" => "bert", _ => "roberta" };
        var word = weights.GetSingle($"{prefix}.embeddings.word_embeddings.weight");
        var position = weights.GetSingle($"{prefix}.embeddings.position_embeddings.weight");
        var tokenType = config.TypeVocabSize > 0 ? weights.GetSingle($"{prefix}.embeddings.token_type_embeddings.weight") : null;
        var gamma = weights.GetSingle($"{prefix}.embeddings.LayerNorm.weight");
        var beta = weights.GetSingle($"{prefix}.embeddings.LayerNorm.bias");

        var ids = expected.ReadInt64("input_ids");
        var mask = expected.ReadInt64("attention_mask");
        var types = expected.Contains("token_type_ids") ? expected.ReadInt64("token_type_ids") : new long[ids.Length];
        var reference = expected.ReadSingle("hidden_states.0");
        var shape = expected.GetInfo("input_ids").Shape;
        int batch = (int)shape[0], length = (int)shape[1], hidden = config.HiddenSize;
        var roberta = prefix == "roberta";

        var checkedPositions = 0;
        for (var b = 0; b < batch; b++)
        {
            var seen = 0;
            for (var p = 0; p < length; p++)
            {
                if (mask[b * length + p] == 0)
                    continue;
                seen++;
                var pos = roberta ? config.PadTokenId!.Value + seen : p; // RoBERTa counts real tokens from padding_idx + 1
                var x = new double[hidden];
                for (var h = 0; h < hidden; h++)
                {
                    x[h] = word[ids[b * length + p] * hidden + h] + position[pos * hidden + h];
                    if (tokenType != null)
                        x[h] += tokenType[types[b * length + p] * hidden + h];
                }
                var mean = x.Average();
                var variance = x.Select(v => (v - mean) * (v - mean)).Average();
                for (var h = 0; h < hidden; h++)
                {
                    var normalized = (x[h] - mean) / Math.Sqrt(variance + config.LayerNormEps) * gamma[h] + beta[h];
                    var actual = reference[(b * length + p) * hidden + h];
                    Assert.True(Math.Abs(normalized - actual) <= 1e-4, $"{model} [{b},{p},{h}]: {normalized} vs {actual}");
                }
                checkedPositions++;
            }
        }
        Assert.True(checkedPositions > batch);
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void ThePaddingRowOfTheWordEmbeddingsIsZero(string model)
    {
        // HF's init zeroes the embedding row at padding_idx; reading it at the right offset proves the layout.
        var folder = SharedFiles.Model(model);
        var config = ModelConfig.Load(folder);
        using var weights = WeightStore.Open(folder);
        var name = weights.Tensors.Single(t => t.Name.EndsWith(".word_embeddings.weight", StringComparison.Ordinal)).Name;
        var word = weights.GetSingle(name);
        var hidden = config.HiddenSize;
        var pad = config.PadTokenId!.Value;
        Assert.All(word.AsSpan(pad * hidden, hidden).ToArray(), v => Assert.Equal(0f, v));
        Assert.Contains(word.AsSpan((pad + 1) * hidden, hidden).ToArray(), v => v != 0f);
    }

    [Fact]
    public void TheLayoutFollowsTheStateDictOrderOfPyTorch()
    {
        // torch.save keeps state_dict order, which is named_parameters() order for a classifier without buffers.
        using var bin = WeightStore.Open(SharedFiles.Model("bert-2label-legacy-bin"));
        var config = ModelConfig.Load(SharedFiles.Model("bert-2label-legacy-bin"));
        Assert.Equal(bin.Tensors.Select(t => t.Name), Architecture.For(config).Parameters(config).Select(p => p.Name));
    }

    [Fact]
    public void LegacyBinEqualsTheSafetensorsCopyBitForBit()
    {
        using var bin = WeightStore.Open(SharedFiles.Model("bert-2label-legacy-bin"));
        using var st = WeightStore.Open(SharedFiles.Model("bert-2label"));
        Assert.Equal("pytorch", bin.Format);
        Assert.Equal(["pytorch_model.bin"], bin.Files);
        Assert.Equal("safetensors", st.Format);
        Assert.Equal(st.Tensors.Select(t => t.Name).Order(), bin.Tensors.Select(t => t.Name).Order());
        foreach (var t in st.Tensors)
        {
            Assert.Equal(t.Shape, bin.GetInfo(t.Name).Shape);
            Assert.True(st.GetBytes(t.Name).SequenceEqual(bin.GetBytes(t.Name)), t.Name);
        }
    }

    [Fact]
    public void ReadsShardedCheckpoints()
    {
        using var dir = new TempDirectory();
        using var original = WeightStore.Open(SharedFiles.Model("bert-2label"));
        var all = original.Tensors.Select(t => new TensorToWrite(t.Name, t.DType, t.Shape, original.GetBytes(t.Name).ToArray())).ToList();
        var first = all.Where((_, i) => i % 2 == 0).ToList();
        var second = all.Where((_, i) => i % 2 == 1).ToList();
        SafeTensorsWriter.Write(dir.File("model-00001-of-00002.safetensors"), first);
        SafeTensorsWriter.Write(dir.File("model-00002-of-00002.safetensors"), second);
        WriteIndex(dir, "model.safetensors.index.json",
            first.Select(t => (t.Name, "model-00001-of-00002.safetensors")).Concat(second.Select(t => (t.Name, "model-00002-of-00002.safetensors"))));

        using var sharded = WeightStore.Open(dir.Path);
        Assert.Equal(["model.safetensors.index.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"], sharded.Files);
        Assert.Equal(all.Count, sharded.Tensors.Count);
        foreach (var t in all)
            Assert.True(sharded.GetBytes(t.Name).SequenceEqual(t.Data.Span), t.Name);
        Assert.Equal(original.ParameterCount, sharded.ParameterCount);
    }

    [Theory]
    [InlineData("../model.safetensors", "plain file name")]
    [InlineData("/etc/passwd", "plain file name")]
    [InlineData("sub/model.safetensors", "plain file name")]
    [InlineData("missing.safetensors", "missing")]
    [InlineData("other.safetensors", "does not hold")]
    public void ShardIndexProblemsAreNamed(string shard, string expected)
    {
        using var dir = new TempDirectory();
        SafeTensorsWriter.Write(dir.File("other.safetensors"), [TensorToWrite.FromSingle("present", [1], [1f])]);
        WriteIndex(dir, "model.safetensors.index.json", [("absent", shard)]);
        var e = Assert.Throws<CheckpointFormatException>(() => WeightStore.Open(dir.Path).Dispose());
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void ATensorInTwoShardsIsRefused()
    {
        using var dir = new TempDirectory();
        SafeTensorsWriter.Write(dir.File("a.safetensors"), [TensorToWrite.FromSingle("x", [1], [1f])]);
        SafeTensorsWriter.Write(dir.File("b.safetensors"), [TensorToWrite.FromSingle("x", [1], [2f])]);
        File.WriteAllText(dir.File("model.safetensors.index.json"), """{"weight_map": {"x": "a.safetensors", "x": "b.safetensors"}}""");
        Assert.Contains("twice", Assert.Throws<CheckpointFormatException>(() => WeightStore.Open(dir.Path).Dispose()).Message);
    }

    [Fact]
    public void PrefersSafetensorsOverBin()
    {
        using var dir = new TempDirectory();
        File.Copy(Path.Combine(SharedFiles.Model("bert-2label-legacy-bin"), "pytorch_model.bin"), dir.File("pytorch_model.bin"));
        SafeTensorsWriter.Write(dir.File("model.safetensors"), [TensorToWrite.FromSingle("only", [1], [3f])]);
        using var weights = WeightStore.Open(dir.Path);
        Assert.Equal("safetensors", weights.Format);
        Assert.Equal([3f], weights.GetSingle("only"));
    }

    [Fact]
    public void AFolderWithoutWeightsSaysWhatWasExpected()
    {
        using var dir = new TempDirectory();
        var e = Assert.Throws<CheckpointFormatException>(() => WeightStore.Open(dir.Path));
        Assert.Contains("model.safetensors", e.Message);
        Assert.Contains("pytorch_model.bin", e.Message);
        Assert.Throws<CheckpointFormatException>(() => WeightStore.Open(dir.File("absent")));
    }

    private static void WriteIndex(TempDirectory dir, string name, IEnumerable<(string Tensor, string Shard)> map)
    {
        var weightMap = new System.Text.Json.Nodes.JsonObject();
        foreach (var (tensor, shard) in map)
            weightMap[tensor] = shard;
        var index = new System.Text.Json.Nodes.JsonObject { ["metadata"] = new System.Text.Json.Nodes.JsonObject { ["total_size"] = 0 }, ["weight_map"] = weightMap };
        File.WriteAllText(dir.File(name), index.ToJsonString());
    }
}
