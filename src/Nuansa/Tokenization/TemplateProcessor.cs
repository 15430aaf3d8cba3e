namespace Nuansa.Tokenization;

/// <summary>One element of a post-processing template: a special token, or sequence A / B, with its token type id.</summary>
public readonly record struct TemplatePiece(string? SpecialToken, char Sequence, int TypeId)
{
    public static TemplatePiece Special(string token, int typeId = 0) => new(token, '\0', typeId);

    public static TemplatePiece Of(char sequence, int typeId) => new(null, sequence, typeId);
}

/// <summary>
/// HF's <c>TemplateProcessing</c> (and <c>BertProcessing</c> / <c>RobertaProcessing</c>, which are fixed templates):
/// how special tokens surround one text or a pair, e.g. <c>[CLS] A [SEP] B [SEP]</c>.
/// </summary>
public sealed class TemplateProcessor
{
    public TemplateProcessor(IReadOnlyList<TemplatePiece> single, IReadOnlyList<TemplatePiece> pair, IReadOnlyDictionary<string, int> specialTokenIds)
    {
        Single = single;
        Pair = pair;
        SpecialTokenIds = specialTokenIds;
        foreach (var piece in single.Concat(pair))
        {
            if (piece.SpecialToken is { } token && !specialTokenIds.ContainsKey(token))
                throw new TokenizerFormatException($"The post-processor uses special token '{token}' but gives no id for it.");
        }
    }

    public IReadOnlyList<TemplatePiece> Single { get; }
    public IReadOnlyList<TemplatePiece> Pair { get; }
    public IReadOnlyDictionary<string, int> SpecialTokenIds { get; }

    /// <summary>[CLS] A [SEP] / [CLS] A [SEP] B [SEP] with type ids 0 / 1 (BERT, DistilBERT).</summary>
    public static TemplateProcessor Bert(string cls, int clsId, string sep, int sepId) => new(
        [TemplatePiece.Special(cls), TemplatePiece.Of('A', 0), TemplatePiece.Special(sep)],
        [TemplatePiece.Special(cls), TemplatePiece.Of('A', 0), TemplatePiece.Special(sep), TemplatePiece.Of('B', 1), TemplatePiece.Special(sep, 1)],
        new Dictionary<string, int> { [cls] = clsId, [sep] = sepId });

    /// <summary>&lt;s&gt; A &lt;/s&gt; / &lt;s&gt; A &lt;/s&gt;&lt;/s&gt; B &lt;/s&gt;, all type ids 0 (RoBERTa, XLM-R).</summary>
    public static TemplateProcessor Roberta(string cls, int clsId, string sep, int sepId) => new(
        [TemplatePiece.Special(cls), TemplatePiece.Of('A', 0), TemplatePiece.Special(sep)],
        [TemplatePiece.Special(cls), TemplatePiece.Of('A', 0), TemplatePiece.Special(sep), TemplatePiece.Special(sep), TemplatePiece.Of('B', 0), TemplatePiece.Special(sep)],
        new Dictionary<string, int> { [cls] = clsId, [sep] = sepId });

    /// <summary>How many special tokens the template adds.</summary>
    public int AddedTokens(bool pair) => (pair ? Pair : Single).Count(p => p.SpecialToken != null);

    internal Encoding Apply(List<Token> first, List<Token>? second)
    {
        var template = second == null ? Single : Pair;
        var ids = new List<int>();
        var types = new List<int>();
        var tokens = new List<string>();
        var offsets = new List<(int, int)>();
        var special = new List<bool>();
        foreach (var piece in template)
        {
            if (piece.SpecialToken is { } name)
            {
                ids.Add(SpecialTokenIds[name]);
                types.Add(piece.TypeId);
                tokens.Add(name);
                offsets.Add((0, 0));
                special.Add(true);
                continue;
            }
            foreach (var t in piece.Sequence == 'A' ? first : second!)
            {
                ids.Add(t.Id);
                types.Add(piece.TypeId);
                tokens.Add(t.Value);
                offsets.Add((t.Start, t.End));
                special.Add(false);
            }
        }
        return new Encoding([.. ids], [.. types], [.. tokens], [.. offsets], [.. special], [.. Enumerable.Repeat(1, ids.Count)]);
    }
}
