using System.Text.Json.Nodes;
using Nuansa.Inference;
using Nuansa.Tests.Cli;
using Nuansa.Tokenization;

namespace Nuansa.Tests.Inference;

/// <summary>Long documents in windows: HF's overflow rule on every tokenizer family, and window logits combined.</summary>
public class LongTextTests
{
    private const string Long = "The film opens slowly, and the first hour drags with long shots of empty rooms and quiet talk. " +
        "Then everything changes: the acting is superb, the score is wonderful, and the ending left the whole cinema in tears. " +
        "Still, a few scenes feel unnecessary and the runtime could have been shorter by twenty minutes at least.";

    [Fact]
    public void TheIssueExampleGivesItsThreeWindows()
    {
        var (code, output, error) = CliRunner.Run(["tokenize", "--model", SharedFiles.Model("bert-2label"), "--max-length", "8", "--stride", "2", "--return-overflowing-tokens"],
            "{\"text\": \"one two three four five six seven eight nine ten eleven twelve\"}\n{\"text\": \"short\"}\n");
        Assert.True(code == 0, error);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!).ToArray();
        string Words(JsonNode line) => string.Join(' ', line["tokens"]!.AsArray().Select(t => t!.GetValue<string>()).Where(t => !t.StartsWith('[')));
        Assert.Equal(["one two three four five six", "five six seven eight nine ten", "nine ten eleven twelve", "short"], lines.Select(Words));
        Assert.Equal([0, 0, 0, 1], lines.Select(l => l["overflow_to_sample_mapping"]!.GetValue<int>()));
    }

    [Theory]
    [InlineData("bert-2label", false)]
    [InlineData("bert-pair-3label", true)]
    [InlineData("roberta-2label", false)]
    [InlineData("roberta-2label", true)]
    [InlineData("xlmr-3label", false)]
    [InlineData("xlmr-3label", true)]
    public void WindowsFollowTheOverflowRule(string model, bool pair)
    {
        var tokenizer = Tokenizer.Load(SharedFiles.Model(model));
        var plain = new EncodeOptions { AddSpecialTokens = false, Truncation = TruncationStrategy.DoNotTruncate };
        var context = pair ? tokenizer.Encode("the acting", null, plain).Ids : [];
        var text = tokenizer.Encode(Long, null, plain).Ids;
        foreach (var (maxLength, stride) in new[] { (24, 4), (32, 0), (40, 10) })
        {
            var windows = tokenizer.EncodeWindows(pair ? "the acting" : Long, pair ? Long : null, maxLength, stride);
            var room = maxLength - tokenizer.PostProcessor!.AddedTokens(pair) - context.Length;
            // The rule: window k holds text tokens [k(B−N), k(B−N)+B), up to the first window that reaches the end.
            var expected = new List<int[]>();
            for (var start = 0; ; start += room - stride)
            {
                expected.Add(text[start..Math.Min(text.Length, start + room)]);
                if (start + room >= text.Length)
                    break;
            }
            Assert.Equal(expected.Count, windows.Count);
            for (var k = 0; k < windows.Count; k++)
            {
                var content = windows[k].Ids.Where((_, i) => !windows[k].SpecialTokensMask[i]).ToArray();
                Assert.Equal([.. context, .. expected[k]], content);
                Assert.True(windows[k].Length <= maxLength);
            }
            Assert.True(windows.Count > 1, $"{model}: the text should need several windows at {maxLength}");
        }
    }

    [Theory]
    [InlineData(WindowAggregate.Mean)]
    [InlineData(WindowAggregate.Max)]
    [InlineData(WindowAggregate.First)]
    public void WindowLogitsCombineAsAsked(WindowAggregate aggregate)
    {
        using var classifier = TextClassifier.Load(SharedFiles.Model("bert-2label"));
        var options = new ClassifyOptions { TopK = null, LongText = LongText.Chunk, MaxLength = 24, Stride = 4, Aggregate = aggregate };
        var result = classifier.ClassifyBatch([new TextInput(Long), new TextInput("short text")], options);
        var windows = classifier.Tokenizer.EncodeWindows(Long, null, 24, 4);
        var logits = windows.Select(w => classifier.Forward([w])).ToArray();
        Assert.Equal(windows.Count, result[0].Windows!.Count);
        for (var k = 0; k < 2; k++)
        {
            var expected = aggregate switch
            {
                WindowAggregate.First => logits[0][k],
                WindowAggregate.Max => logits.Max(l => l[k]),
                _ => logits.Average(l => l[k]),
            };
            Assert.Equal(expected, result[0].Logits[k], 4);
            Assert.Equal(logits[1][k], result[0].Windows![1].Logits[k], 4);
        }
        // A text that fits is one window: the same as plain classification.
        var plain = classifier.Classify("short text", new ClassifyOptions { TopK = null });
        Assert.Single(result[1].Windows!);
        Assert.Equal(plain.Logits[0], result[1].Logits[0], 5);
    }

    [Fact]
    public void ClassifyChunksOnTheCommandLine()
    {
        var (code, output, error) = CliRunner.Run(["classify", "--model", SharedFiles.Model("bert-2label"), "--input", "-", "--max-length", "24",
            "--long-text", "chunk", "--stride", "4", "--aggregate", "max", "--show-windows"], new JsonObject { ["text"] = Long }.ToJsonString() + "\n");
        Assert.True(code == 0, error);
        var line = JsonNode.Parse(output)!;
        var windows = line["windows"]!.AsArray();
        Assert.True(windows.Count > 1);
        for (var k = 0; k < 2; k++)
            Assert.Equal(windows.Max(w => w!["logits"]![k]!.GetValue<float>()), line["logits"]![k]!.GetValue<float>(), 5);
    }
}
