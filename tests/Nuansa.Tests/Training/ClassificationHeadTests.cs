using System.Text.Json.Nodes;
using Nuansa.Checkpoints;
using Nuansa.Tests.Cli;
using Nuansa.Training;

namespace Nuansa.Tests.Training;

/// <summary>Fine-tuning from a base checkpoint: labels from the user, a new head with HF's initialization, the encoder kept.</summary>
public class ClassificationHeadTests
{
    // A BertModel-style save of the bert-2label fixture: no "bert." prefix, no classifier, no id2label.
    private static string BaseCheckpoint(TempDirectory dir)
    {
        var source = SharedFiles.Model("bert-2label");
        var folder = Directory.CreateDirectory(dir.File("base")).FullName;
        using (var store = WeightStore.Open(source))
        {
            SafeTensorsWriter.Write(Path.Combine(folder, "model.safetensors"), [.. store.Tensors
                .Where(t => !t.Name.StartsWith("classifier", StringComparison.Ordinal))
                .Select(t => TensorToWrite.FromSingle(t.Name.Replace("bert.", "", StringComparison.Ordinal), [.. t.Shape], store.GetSingle(t.Name)))]);
        }
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(source, "config.json")))!.AsObject();
        config.Remove("id2label");
        config.Remove("label2id");
        File.WriteAllText(Path.Combine(folder, "config.json"), config.ToJsonString());
        foreach (var file in new[] { "tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json" }.Where(f => File.Exists(Path.Combine(source, f))))
            File.Copy(Path.Combine(source, file), Path.Combine(folder, file));
        return folder;
    }

    [Fact]
    public void ABaseCheckpointGetsANewHeadAndKeepsItsEncoder()
    {
        using var dir = new TempDirectory();
        var folder = BaseCheckpoint(dir);
        var config = ClassificationHead.WithLabels(ModelConfig.Load(folder), ["neg", "neu", "pos"]);
        Assert.Equal(["neg", "neu", "pos"], config.Id2Label);
        using var store = WeightStore.Open(folder);
        var added = ClassificationHead.InitializeMissing(config, store, seed: 3);
        Assert.Equal(["classifier.weight", "classifier.bias"], added);
        var weight = store.GetSingle("classifier.weight");
        Assert.Equal(3 * config.HiddenSize, weight.Length);
        // HF's init: normal(0, initializer_range) weights, zero bias.
        var mean = weight.Average();
        var std = Math.Sqrt(weight.Average(w => (w - mean) * (w - mean)));
        Assert.InRange(std, 0.8 * config.InitializerRange, 1.2 * config.InitializerRange);
        Assert.InRange(Math.Abs(mean), 0, 3 * config.InitializerRange / Math.Sqrt(weight.Length));
        Assert.All(store.GetSingle("classifier.bias"), b => Assert.Equal(0f, b));
        // The encoder and pooler come from the checkpoint untouched.
        using var original = WeightStore.Open(SharedFiles.Model("bert-2label"));
        Assert.Equal(original.GetSingle("bert.pooler.dense.weight"), store.GetSingle("pooler.dense.weight"));
        Assert.Empty(ClassificationHead.InitializeMissing(config, store, seed: 3)); // nothing left to add
    }

    [Fact]
    public void NuansaTrainFineTunesABaseCheckpointWithTheGivenLabels()
    {
        using var dir = new TempDirectory();
        var folder = BaseCheckpoint(dir);
        File.WriteAllLines(dir.File("train.tsv"), ["text\tlabel", .. Enumerable.Range(0, 24).Select(i => $"text {i}\t{new[] { "neg", "neu", "pos" }[i % 3]}")]);
        var (code, output, error) = CliRunner.Run("train", "--model", folder, "--train", dir.File("train.tsv"), "--output", dir.File("out"),
            "--labels", "neg,neu,pos", "--max-steps", "2", "--no-checkpoints", "--validation-split", "0");
        Assert.True(code == 0, error);
        Assert.Contains("newly initialized", output);
        Assert.Contains("classifier.weight", output);
        using var classifier = Nuansa.Inference.TextClassifier.Load(dir.File("out"));
        Assert.Equal(["neg", "neu", "pos"], classifier.Labels);
        Assert.Equal(3, classifier.Classify("text", new Nuansa.Inference.ClassifyOptions { TopK = null }).Labels.Count);

        // Without --labels, a base checkpoint has only HF's placeholder labels: the error says what to do.
        (code, _, error) = CliRunner.Run("train", "--model", folder, "--train", dir.File("train.tsv"), "--output", dir.File("out2"), "--max-steps", "1", "--no-checkpoints");
        Assert.Equal(1, code);
        Assert.Contains("name yours with --labels", error);
    }

    [Fact]
    public void AMultiTaskModelCanStartFromABaseCheckpoint()
    {
        using var dir = new TempDirectory();
        var folder = BaseCheckpoint(dir);
        File.WriteAllLines(dir.File("train.tsv"), ["text\ttopic\tmood", .. Enumerable.Range(0, 12).Select(i => $"text {i}\t{(i % 2 == 0 ? "yes" : "no")}\t{new[] { "bad", "ok", "good" }[i % 3]}")]);
        var (code, output, error) = CliRunner.Run("train", "--model", folder, "--train", dir.File("train.tsv"), "--output", dir.File("out"),
            "--tasks", "topic,mood", "--task-labels", "no,yes;bad,ok,good", "--max-steps", "1", "--no-checkpoints", "--validation-split", "0");
        Assert.True(code == 0, error);
        Assert.Contains("classifier.weight", output);
        using var classifier = Nuansa.Inference.TextClassifier.Load(dir.File("out"));
        Assert.Equal(5, classifier.Config.NumLabels);
        Assert.Equal(["topic", "mood"], classifier.Tasks!.Select(t => t.Name));
    }

    [Fact]
    public void AHeadForOtherLabelsIsReplacedAsWithIgnoreMismatchedSizes()
    {
        var folder = SharedFiles.Model("bert-2label");
        var config = ClassificationHead.WithLabels(ModelConfig.Load(folder), ["a", "b", "c", "d"]);
        using var store = WeightStore.Open(folder);
        Assert.Equal(["classifier.weight", "classifier.bias"], ClassificationHead.InitializeMissing(config, store, seed: 1));
        Assert.Equal([4L, config.HiddenSize], store.GetInfo("classifier.weight").Shape);
    }
}
