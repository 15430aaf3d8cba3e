using Nuansa.Checkpoints;
using Nuansa.Inference;
using Nuansa.Tests.Cli;

namespace Nuansa.Tests.Inference;

/// <summary>NaN or infinite logits are never printed as scores: the library throws, the CLI exits 1 naming the model and the input.</summary>
public class NonFiniteOutputTests
{
    /// <summary>bert-2label with one classifier bias set to NaN: every input's logits are then NaN for that label.</summary>
    internal static string BrokenModel(TempDirectory dir)
    {
        var source = SharedFiles.Model("bert-2label");
        var folder = dir.File("broken");
        Directory.CreateDirectory(folder);
        foreach (var file in Directory.GetFiles(source).Where(f => !f.EndsWith(".safetensors", StringComparison.Ordinal)))
            File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
        using var store = WeightStore.Open(source);
        var tensors = store.Tensors.Select(t =>
        {
            var values = store.GetSingle(t.Name);
            if (t.Name == "classifier.bias")
                values[1] = float.NaN;
            return TensorToWrite.FromSingle(t.Name, t.Shape, values);
        }).ToArray();
        SafeTensorsWriter.Write(Path.Combine(folder, "model.safetensors"), tensors);
        return folder;
    }

    [Fact]
    public void TheLibraryRefusesToScoreNaNLogits()
    {
        using var dir = new TempDirectory();
        using var classifier = TextClassifier.Load(BrokenModel(dir));
        var e = Assert.Throws<NonFiniteOutputException>(() => classifier.ClassifyBatch([new TextInput("fine"), new TextInput("a longer second input")]));
        Assert.Contains("not finite", e.Message, StringComparison.Ordinal);
        Assert.Contains("broken", e.Message, StringComparison.Ordinal);
        var windows = Assert.Throws<NonFiniteOutputException>(() => classifier.ClassifyBatch([new TextInput("fine")], new ClassifyOptions { LongText = LongText.Chunk }));
        Assert.Contains("window 1 of input 1", windows.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheCliExitsOneNamingTheModelAndTheInput()
    {
        using var dir = new TempDirectory();
        var model = BrokenModel(dir);
        var (code, output, error) = CliRunner.Run("classify", "--model", model, "first", "second text");
        Assert.Equal(1, code);
        Assert.Equal("", output);
        var line = Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"error: {model}: the model's logits for input ", line, StringComparison.Ordinal);
        Assert.Contains("are not finite numbers", line, StringComparison.Ordinal);
    }
}
