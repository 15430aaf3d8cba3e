namespace Nuansa.Tests.Cli;

[Trait("Category", "Slow")]
public class DemoCommandTests
{
    [Fact]
    public void RunsTheWholeWorkflowOffline()
    {
        using var dir = new TempDirectory();
        var (code, output, error) = CliRunner.Run("demo", "--output", dir.File("demo"));
        Assert.True(code == 0, error);
        foreach (var file in new[] { "data/vocab.txt", "model/model.safetensors", "model/config.json", "model/README.md", "model/trainer_log.jsonl",
                     "evaluation/metrics.json", "evaluation/report.md", "evaluation/confusion_matrix.png", "evaluation/training_curves.png" })
            Assert.True(File.Exists(Path.Combine(dir.File("demo"), file)), file);
        Assert.Matches(@"4\. eval: +accuracy (0\.9\d{3}|1\.0000)", output);
        Assert.Contains("this phone broke after a week            negative", output);
        Assert.Contains("makanannya segar dan enak                positive", output);
        Assert.Matches(@"7\. int8: +same label on (6[0-4])/64 test reviews, scores moved by 0\.0\d{3} at most", output);

        // A second run does not touch the first one's folder.
        (code, output, _) = CliRunner.Run("demo", "--output", dir.File("demo"));
        Assert.Equal(0, code);
        Assert.Contains(dir.File("demo-2"), output);
    }

    [Fact]
    public void TheVocabularyCoversEveryCharacterAndWord()
    {
        var vocabulary = Nuansa.Cli.DemoCommand.BuildVocabulary(["harga naik-turun", "the film"]).ToList();
        Assert.Equal(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"], vocabulary.Take(5));
        Assert.Contains("##k", vocabulary);
        Assert.Contains("naik", vocabulary);
        Assert.Contains("turun", vocabulary);
        Assert.Contains("-", vocabulary);
        Assert.Equal(vocabulary.Count, vocabulary.Distinct().Count());
    }
}
