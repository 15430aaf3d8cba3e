using Nuansa.Checkpoints;
using Nuansa.Inference;
using Nuansa.Models;
using Nuansa.Tests.Cli;

namespace Nuansa.Tests.Training;

public class ModelInitializerTests
{
    private static string BertVocab => Path.Combine(SharedFiles.Root, "data", "vocab", "bert-base-uncased.txt");

    [Fact]
    public void CreatesAnHfCheckpointWithHfInitialization()
    {
        using var dir = new TempDirectory();
        var output = dir.File("model");
        var (code, _, error) = CliRunner.Run("init", "--model-type", "bert", "--vocab", BertVocab, "--labels", "negative,positive",
            "--output", output, "--hidden-size", "128", "--num-hidden-layers", "2", "--num-attention-heads", "2", "--intermediate-size", "512", "--seed", "7");
        Assert.True(code == 0, error);

        var config = ModelConfig.Load(output);
        Assert.Equal(["BertForSequenceClassification"], config.Architectures);
        Assert.Equal(30522, config.VocabSize);
        Assert.Equal(128, config.HiddenSize);
        Assert.Equal(512, config.IntermediateSize);
        Assert.Equal(["negative", "positive"], config.Id2Label);
        Assert.Equal(1, config.Label2Id["positive"]);

        using var weights = WeightStore.Open(output);
        var layout = Architecture.For(config).Parameters(config);
        Assert.Equal(layout.Select(p => p.Name).Order(), weights.Tensors.Select(t => t.Name).Order());
        foreach (var p in layout)
        {
            var values = weights.GetSingle(p.Name);
            Assert.Equal(p.Shape, weights.GetInfo(p.Name).Shape);
            switch (p.Kind)
            {
                case ParameterKind.Bias or ParameterKind.LayerNormBias:
                    Assert.All(values, v => Assert.Equal(0f, v));
                    break;
                case ParameterKind.LayerNormWeight:
                    Assert.All(values, v => Assert.Equal(1f, v));
                    break;
                default:
                    if (values.Length < 10_000)
                        break;
                    var mean = values.Average(v => (double)v);
                    var std = Math.Sqrt(values.Average(v => (v - mean) * (v - mean)));
                    Assert.True(Math.Abs(mean) < 0.002, $"{p.Name} mean {mean}");
                    Assert.True(Math.Abs(std - 0.02) < 0.001, $"{p.Name} std {std}");
                    break;
            }
        }
        var word = weights.GetSingle("bert.embeddings.word_embeddings.weight");
        Assert.All(word.AsSpan(0, 128).ToArray(), v => Assert.Equal(0f, v)); // [PAD] row

        using var classifier = TextClassifier.Load(output);
        var result = classifier.Classify("a fresh model", new ClassifyOptions { TopK = null });
        Assert.Equal(1.0, result.Labels.Sum(l => l.Score), 5);
    }

    [Fact]
    public void TheSeedDecidesTheWeights()
    {
        using var dir = new TempDirectory();
        var options = new Nuansa.Training.NewModelOptions { ModelType = "distilbert", Labels = ["a", "b", "c"], HiddenSize = 32, NumHiddenLayers = 1, NumAttentionHeads = 2, Seed = 1 };
        Nuansa.Training.ModelInitializer.CreateCheckpoint(options, BertVocab, null, dir.File("one"));
        Nuansa.Training.ModelInitializer.CreateCheckpoint(options, BertVocab, null, dir.File("same"));
        Nuansa.Training.ModelInitializer.CreateCheckpoint(options with { Seed = 2 }, BertVocab, null, dir.File("other"));
        var one = File.ReadAllBytes(Path.Combine(dir.File("one"), "model.safetensors"));
        Assert.Equal(one, File.ReadAllBytes(Path.Combine(dir.File("same"), "model.safetensors")));
        Assert.NotEqual(one, File.ReadAllBytes(Path.Combine(dir.File("other"), "model.safetensors")));
        Assert.Equal("distilbert", ModelConfig.Load(dir.File("one")).ModelType);
    }

    [Fact]
    public void CreatesARobertaModelFromBpeFiles()
    {
        using var dir = new TempDirectory();
        var fixture = SharedFiles.Model("roberta-2label");
        var options = new Nuansa.Training.NewModelOptions { ModelType = "roberta", Labels = ["neg", "pos"], HiddenSize = 32, NumHiddenLayers = 1, NumAttentionHeads = 2 };
        var config = Nuansa.Training.ModelInitializer.CreateCheckpoint(options, Path.Combine(fixture, "vocab.json"), Path.Combine(fixture, "merges.txt"), dir.File("r"));
        Assert.Equal(1, config.PadTokenId);
        Assert.Equal(1261, config.VocabSize);
        using var weights = WeightStore.Open(dir.File("r"));
        var positions = weights.GetSingle("roberta.embeddings.position_embeddings.weight");
        Assert.All(positions.AsSpan(32, 32).ToArray(), v => Assert.Equal(0f, v)); // padding_idx row of the positions
        using var classifier = TextClassifier.Load(dir.File("r"));
        Assert.Equal(2, classifier.Classify("hello", new ClassifyOptions { TopK = null }).Labels.Count);
    }

    [Theory]
    [InlineData("a,a", "distinct")]
    [InlineData("a,b|--num-attention-heads|5", "multiple")]
    [InlineData("a,b|--vocab|/no/such/vocab.txt", "not found")]
    public void BadOptionsFailAndWriteNothing(string arguments, string expected)
    {
        using var dir = new TempDirectory();
        var parts = arguments.Split('|');
        var vocab = parts.Length > 1 && parts[1] == "--vocab" ? parts[2] : BertVocab;
        var args = new List<string> { "init", "--model-type", "bert", "--vocab", vocab, "--labels", parts[0], "--output", dir.File("m"), "--hidden-size", "32" };
        if (parts.Length > 1 && parts[1] != "--vocab")
            args.AddRange(parts[1..]);
        var (code, _, error) = CliRunner.Run([.. args], "");
        Assert.Equal(1, code);
        Assert.Contains(expected, error);
        Assert.False(Directory.Exists(dir.File("m")));
    }

    [Fact]
    public void ANonEmptyOutputFolderIsLeftAlone()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("keep.txt"), "mine");
        var (code, _, error) = CliRunner.Run("init", "--model-type", "bert", "--vocab", BertVocab, "--labels", "a,b", "--output", dir.Path, "--hidden-size", "32", "--num-attention-heads", "2");
        Assert.Equal(1, code);
        Assert.Contains("not empty", error);
        Assert.Equal(["keep.txt"], Directory.GetFileSystemEntries(dir.Path).Select(Path.GetFileName));
    }
}
