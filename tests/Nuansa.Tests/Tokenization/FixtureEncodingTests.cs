using System.Text.Json;
using Nuansa.Tokenization;

namespace Nuansa.Tests.Tokenization;

/// <summary>Each model fixture's inputs.json: HF's encodings of 12 inputs (max_length 32), one by one and as a padded batch.</summary>
public class FixtureEncodingTests
{
    public static TheoryData<string> Models() => SharedFiles.Models();

    [Theory]
    [MemberData(nameof(Models))]
    public void EncodesEachInputAsHuggingFaceDoes(string model)
    {
        var (tokenizer, inputs, options) = Load(model);
        var texts = inputs.GetProperty("texts").EnumerateArray().ToArray();
        var unpadded = inputs.GetProperty("unpadded").EnumerateArray().ToArray();
        Assert.Equal(12, texts.Length);
        for (var i = 0; i < texts.Length; i++)
        {
            var (text, pair) = Input(texts[i]);
            var actual = tokenizer.Encode(text, pair, options);
            var expected = unpadded[i];
            var label = $"{model} input {i}";
            Assert.True(Strings(expected, "tokens").SequenceEqual(actual.Tokens), $"{label}: tokens {string.Join(" ", actual.Tokens)}");
            Assert.True(Ints(expected, "input_ids").SequenceEqual(actual.Ids), label);
            Assert.True(Ints(expected, "token_type_ids").SequenceEqual(actual.TypeIds), $"{label}: token types");
            Assert.True(Ints(expected, "attention_mask").SequenceEqual(actual.AttentionMask), $"{label}: mask");
            Assert.True(Ints(expected, "special_tokens_mask").SequenceEqual(actual.SpecialTokensMask.Select(b => b ? 1 : 0)), $"{label}: special tokens mask");
            var offsets = expected.GetProperty("offsets").EnumerateArray().Select(o => (o[0].GetInt32(), o[1].GetInt32())).ToArray();
            Assert.True(offsets.SequenceEqual(actual.Offsets), $"{label}: offsets {string.Join(" ", actual.Offsets)}");
        }
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void PadsABatchToTheLongestAsHuggingFaceDoes(string model)
    {
        var (tokenizer, inputs, options) = Load(model);
        var batch = inputs.GetProperty("texts").EnumerateArray().Select(Input).ToArray();
        var encodings = tokenizer.EncodeBatch(batch, options with { Padding = PaddingStrategy.Longest });
        var padded = inputs.GetProperty("padded");
        var ids = padded.GetProperty("input_ids").EnumerateArray().ToArray();
        for (var i = 0; i < batch.Length; i++)
        {
            Assert.Equal(ids[i].EnumerateArray().Select(e => e.GetInt32()), encodings[i].Ids);
            Assert.Equal(padded.GetProperty("attention_mask")[i].EnumerateArray().Select(e => e.GetInt32()), encodings[i].AttentionMask);
            Assert.Equal(padded.GetProperty("token_type_ids")[i].EnumerateArray().Select(e => e.GetInt32()), encodings[i].TypeIds);
            Assert.Equal(padded.GetProperty("tokens")[i].EnumerateArray().Select(e => e.GetString()), encodings[i].Tokens);
        }
    }

    [Fact]
    public void ContextConditionedPairsPutTheContextFirst()
    {
        // [CLS] context [SEP] text [SEP], type ids 0 for the context part and 1 for the text part.
        var tokenizer = Tokenizer.Load(SharedFiles.Model("bert-pair-3label"));
        var context = tokenizer.Tokenize("harga sembako").Select(t => t.Value).ToArray();
        var text = tokenizer.Tokenize("harga beras naik terus").Select(t => t.Value).ToArray();
        var e = tokenizer.Encode("harga sembako", "harga beras naik terus");
        Assert.Equal(["[CLS]", .. context, "[SEP]", .. text, "[SEP]"], e.Tokens);
        Assert.Equal([.. Enumerable.Repeat(0, context.Length + 2), .. Enumerable.Repeat(1, text.Length + 1)], e.TypeIds);
        // Offsets count within each text: the context's last token ends at 13, the text's first starts at 0.
        Assert.Equal(13, e.Offsets[context.Length].End);
        Assert.Equal(0, e.Offsets[context.Length + 2].Start);
    }

    [Fact]
    public void OnlySecondTruncatesTheTextAndKeepsTheContext()
    {
        var tokenizer = Tokenizer.Load(SharedFiles.Model("bert-pair-3label"));
        var options = new EncodeOptions { Truncation = TruncationStrategy.OnlySecond, MaxLength = 8 };
        var e = tokenizer.Encode("battery life", "the battery lasts all day and the screen is bright", options);
        Assert.Equal(["[CLS]", "battery", "life", "[SEP]", "the", "battery", "lasts", "[SEP]"], e.Tokens);
        var tooShort = Assert.Throws<TokenizationException>(() => tokenizer.Encode("a very long context that takes all room", "ok", options));
        Assert.Contains("only_second", tooShort.Message);
    }

    [Fact]
    public void DefaultsCutToTheModelLimit()
    {
        var tokenizer = Tokenizer.Load(SharedFiles.Model("bert-2label"));
        Assert.Equal(512, tokenizer.ModelMaxLength);
        var e = tokenizer.Encode(string.Join(" ", Enumerable.Repeat("word", 600)));
        Assert.Equal(512, e.Length);
        Assert.Equal("[SEP]", e.Tokens[^1]);
        var padded = tokenizer.Encode("short", options: new EncodeOptions { Padding = PaddingStrategy.MaxLength, MaxLength = 8 });
        Assert.Equal([101, 2460, 102, 0, 0, 0, 0, 0], padded.Ids);
        Assert.Equal([1, 1, 1, 0, 0, 0, 0, 0], padded.AttentionMask);
    }

    private static (Tokenizer, JsonElement, EncodeOptions) Load(string model)
    {
        var folder = SharedFiles.Model(model);
        var inputs = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(folder, "inputs.json"))).RootElement;
        var call = inputs.GetProperty("tokenizer_call");
        Assert.Equal("longest_first", call.GetProperty("truncation").GetString());
        var options = new EncodeOptions { MaxLength = call.GetProperty("max_length").GetInt32() };
        return (Tokenizer.Load(folder), inputs, options);
    }

    private static (string, string?) Input(JsonElement text) =>
        (text.GetProperty("text").GetString()!, text.GetProperty("text_pair").ValueKind == JsonValueKind.String ? text.GetProperty("text_pair").GetString() : null);

    private static IEnumerable<string?> Strings(JsonElement e, string name) => e.GetProperty(name).EnumerateArray().Select(x => x.GetString());

    private static IEnumerable<int> Ints(JsonElement e, string name) => e.GetProperty(name).EnumerateArray().Select(x => x.GetInt32());
}
