using System.Text.Json;

namespace Nuansa.Tests.Cli;

public class TokenizeCommandTests
{
    [Fact]
    public void WritesHuggingFaceEncodingsInInputOrder()
    {
        var folder = SharedFiles.Model("bert-pair-3label");
        using var inputs = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(folder, "inputs.json")));
        var texts = inputs.RootElement.GetProperty("texts").EnumerateArray().ToArray();
        var lines = string.Join("\n", texts.Select(t => t.GetRawText().Replace("\n", " ")));
        var (code, output, error) = CliRunner.Run(["tokenize", "--model", folder, "--max-length", "32"], "\n" + lines + "\n\n");
        Assert.True(code == 0, error);
        var rows = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(texts.Length, rows.Length);
        var expected = inputs.RootElement.GetProperty("unpadded").EnumerateArray().ToArray();
        for (var i = 0; i < rows.Length; i++)
        {
            using var row = JsonDocument.Parse(rows[i]);
            foreach (var (ours, theirs) in new[] { ("input_ids", "input_ids"), ("token_type_ids", "token_type_ids"), ("attention_mask", "attention_mask"), ("tokens", "tokens") })
                Assert.Equal(expected[i].GetProperty(theirs).EnumerateArray().Select(x => x.ToString()), row.RootElement.GetProperty(ours).EnumerateArray().Select(x => x.ToString()));
        }
    }

    [Fact]
    public void PadsToTheLongestWhenAsked()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("in.jsonl"), "{\"text\": \"a\"}\n{\"text\": \"a b c d\"}\n");
        var (code, _, error) = CliRunner.Run("tokenize", "--model", SharedFiles.Model("bert-2label"), "--padding", "longest", "--input", dir.File("in.jsonl"), "--output", dir.File("out.jsonl"));
        Assert.True(code == 0, error);
        var rows = File.ReadAllLines(dir.File("out.jsonl")).Select(l => JsonDocument.Parse(l).RootElement).ToArray();
        Assert.Equal("[101,1037,102,0,0,0]", rows[0].GetProperty("input_ids").GetRawText());
        Assert.Equal("[1,1,1,0,0,0]", rows[0].GetProperty("attention_mask").GetRawText());
        Assert.Equal("[\"[CLS]\",\"a\",\"[SEP]\",\"[PAD]\",\"[PAD]\",\"[PAD]\"]", rows[0].GetProperty("tokens").GetRawText());
        Assert.Equal(6, rows[1].GetProperty("input_ids").GetArrayLength());
    }

    [Theory]
    [InlineData("{\"text\": \"fine\"}\n{\"text\": 3}\n", "line 2", "\"text\"")]
    [InlineData("{\"text\": \"fine\"}\n\n{not json}\n", "line 3", "not valid JSON")]
    [InlineData("[\"text\"]\n", "line 1", "JSON object")]
    [InlineData("{\"text\": \"x\", \"text_pair\": 5}\n", "line 1", "text_pair")]
    public void AMalformedLineFailsWithItsNumberAndWritesNothing(string input, string line, string what)
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("in.jsonl"), input);
        var (code, output, error) = CliRunner.Run("tokenize", "--model", SharedFiles.Model("bert-2label"), "--input", dir.File("in.jsonl"), "--output", dir.File("out.jsonl"));
        Assert.Equal(1, code);
        Assert.Equal("", output);
        Assert.Contains(line, error);
        Assert.Contains(what, error);
        Assert.False(File.Exists(dir.File("out.jsonl")));
        Assert.Single(Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void AnImpossibleTruncationNamesTheLine()
    {
        var input = "{\"text\": \"ok\", \"text_pair\": \"fine\"}\n{\"text\": \"a long context with many words in it\", \"text_pair\": \"b\"}\n";
        var (code, output, error) = CliRunner.Run(["tokenize", "--model", SharedFiles.Model("bert-pair-3label"), "--truncation", "only_second", "--max-length", "6"], input);
        Assert.Equal(1, code);
        Assert.Equal("", output);
        Assert.Contains("line 2", error);
        Assert.Contains("only_second", error);
    }
}
