using System.Text.Json;
using Nuansa.Tokenization;
using MlBertTokenizer = Microsoft.ML.Tokenizers.BertTokenizer;

namespace Nuansa.Tests.Tokenization;

/// <summary>
/// Records why Nuansa does not delegate WordPiece to Microsoft.ML.Tokenizers 2.0.1: its BertTokenizer, with
/// the same vocabulary and settings, gives other ids than HF on part of the parity set, where Nuansa agrees.
/// </summary>
public class MicrosoftTokenizersComparisonTests
{
    [Fact]
    public void MicrosoftBertTokenizerDiffersFromHuggingFaceWhereNuansaDoesNot()
    {
        var casesPath = Path.Combine(SharedFiles.Fixtures, "tokenizer-parity", "bert-base-uncased", "cases.json");
        using var document = JsonDocument.Parse(File.ReadAllBytes(casesPath));
        var texts = document.RootElement.GetProperty("texts").EnumerateArray().Select(t => t.GetString()!).ToArray();
        var expected = document.RootElement.GetProperty("cases").GetProperty("single/no_truncation").EnumerateArray()
            .Select(c => c.GetProperty("ids").EnumerateArray().Select(i => i.GetInt32()).ToArray()).ToArray();

        var ml = MlBertTokenizer.Create(Path.Combine(SharedFiles.Model("bert-2label"), "vocab.txt"));
        var ours = Tokenizer.Load(SharedFiles.Model("bert-2label"));
        var options = new EncodeOptions { Truncation = TruncationStrategy.DoNotTruncate };

        var mlDiffers = new List<string>();
        for (var i = 0; i < texts.Length; i++)
        {
            Assert.Equal(expected[i], ours.Encode(texts[i], null, options).Ids);
            if (!ml.EncodeToIds(texts[i]).SequenceEqual(expected[i]))
                mlDiffers.Add(texts[i]);
        }
        // Measured: characters HF treats as punctuation ($ = ` ...), emoji, and tab/newline handling.
        Assert.Contains(mlDiffers, t => t.Contains('\t') || t.Contains('\n') || t.Contains('$') || t.Contains('`') || t.Contains('='));
        Assert.True(mlDiffers.Count >= 10, $"Microsoft.ML.Tokenizers differs on only {mlDiffers.Count} of {texts.Length} texts now; re-evaluate using it.");
    }
}
