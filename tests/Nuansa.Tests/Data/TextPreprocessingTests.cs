using System.Text.Json.Nodes;
using Nuansa.Data;
using Nuansa.Inference;
using Nuansa.Tests.Cli;

namespace Nuansa.Tests.Data;

/// <summary>Text normalization for informal text: each step by hand, the config round trip, and its use after training.</summary>
public class TextPreprocessingTests
{
    private static readonly TextPreprocessing Chat = new()
    {
        Lowercase = true,
        MaxRepeat = 2,
        Replacements = new Dictionary<string, string> { ["gk"] = "tidak", ["bgt"] = "banget", ["Yg"] = "yang" },
    };

    [Theory]
    [InlineData("Bagusssss BGT!!!!", "baguss banget!!")]
    [InlineData("gk suka, yg ini GK enak", "tidak suka, yang ini tidak enak")]
    [InlineData("gkgk bgt2 ngk", "gkgk bgt2 ngk")]            // whole words only
    [InlineData("mantaaap 😍😍😍", "mantaap 😍😍")]            // repeats counted per code point, emoji included
    [InlineData("", "")]
    public void NormalizesAsTheCardRecommends(string text, string expected) => Assert.Equal(expected, Chat.Apply(text));

    [Fact]
    public void EachStepAlone()
    {
        Assert.Equal("AAbb", new TextPreprocessing { MaxRepeat = 2 }.Apply("AAAAbbb"));
        Assert.Equal("aaaa", new TextPreprocessing { Lowercase = true }.Apply("AAAA"));
        Assert.Equal("Tidak!", new TextPreprocessing { Replacements = new Dictionary<string, string> { ["gk"] = "Tidak" } }.Apply("GK!"));
        Assert.Equal("As Is", new TextPreprocessing().Apply("As Is"));
        // Words are matched without case, so "GK" and "gk" would be ambiguous.
        Assert.Contains("twice", Assert.Throws<NuansaException>(() => new TextPreprocessing { Replacements = new Dictionary<string, string> { ["gk"] = "a", ["GK"] = "b" } }).Message);
    }

    [Fact]
    public void ReplacementFilesAreTsvOrJsonAndBadLinesAreNamed()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("slang.tsv"), "word\treplacement\ngk\ttidak\nbgt\tbanget\n");
        Assert.Equal(new Dictionary<string, string> { ["gk"] = "tidak", ["bgt"] = "banget" }, TextPreprocessing.ReadReplacements(dir.File("slang.tsv")));
        File.WriteAllText(dir.File("slang.json"), """{"yg": "yang"}""");
        Assert.Equal("yang", TextPreprocessing.ReadReplacements(dir.File("slang.json"))["yg"]);
        File.WriteAllText(dir.File("bad.tsv"), "gk\ttidak\nbroken line\n");
        Assert.Contains("line 2", Assert.Throws<NuansaException>(() => TextPreprocessing.ReadReplacements(dir.File("bad.tsv"))).Message);
        File.WriteAllText(dir.File("twice.tsv"), "gk\ttidak\ngk\tenggak\n");
        Assert.Contains("listed twice", Assert.Throws<NuansaException>(() => TextPreprocessing.ReadReplacements(dir.File("twice.tsv"))).Message);
    }

    [Fact]
    public void ATrainedModelKeepsItsPreprocessingAndClassifiesWithIt()
    {
        using var dir = new TempDirectory();
        var init = Training.TrainerTests.InitSmallBert(dir, "negative,positive");
        File.WriteAllText(dir.File("slang.tsv"), "gk\tnot\nbgt\tvery\n");
        File.WriteAllLines(dir.File("train.tsv"), ["text\tlabel", .. Enumerable.Range(0, 40).Select(i => i % 2 == 0 ? "goooood bgt\tpositive" : "gk good\tnegative")]);
        var (code, _, error) = CliRunner.Run("train", "--model", init, "--train", dir.File("train.tsv"), "--output", dir.File("out"),
            "--lowercase", "--max-repeat", "2", "--replacements", dir.File("slang.tsv"), "--num-train-epochs", "1", "--no-checkpoints", "--validation-split", "0");
        Assert.True(code == 0, error);
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(dir.File("out"), "config.json")))!;
        Assert.Equal("very", config[TextPreprocessing.ConfigField]!["replacements"]!["bgt"]!.GetValue<string>());
        Assert.Equal(2, config[TextPreprocessing.ConfigField]!["max_repeat"]!.GetValue<int>());
        // The model card tells users of other libraries to normalize the same way.
        Assert.Contains("Texts were normalized before tokenizing: lower-cased; runs of one repeated character cut to 2; 2 slang words",
            File.ReadAllText(Path.Combine(dir.File("out"), "README.md")), StringComparison.Ordinal);

        // The classifier applies the saved steps: raw chat text scores exactly as its normalized form.
        using var classifier = TextClassifier.Load(dir.File("out"));
        Assert.Equal("very", classifier.Preprocessing.Replacements["bgt"]);
        var raw = classifier.Classify("GOOOOOD BGT");
        var normalized = classifier.Classify("good very");
        Assert.Equal(normalized.Logits, raw.Logits);
        var plain = TextClassifier.Load(init);
        Assert.True(plain.Preprocessing.IsEmpty);
        Assert.NotEqual(plain.Classify("GOOOOOD BGT").Logits, plain.Classify("good very").Logits);
        plain.Dispose();
    }
}
