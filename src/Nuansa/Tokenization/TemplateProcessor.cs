namespace Nuansa.Tokenization;

/// <summary>One element of a post-processing template: a special token, or sequence A / B, with its token type id.</summary>
internal readonly record struct TemplatePiece(string? SpecialToken, char Sequence, int TypeId)
{
    public static TemplatePiece Special(string token, int typeId = 0) => new(token, '\0', typeId);

    public static TemplatePiece Of(char sequence, int typeId) => new(null, sequence, typeId);
}

/// <summary>
/// HF's <c>TemplateProcessing</c> (and <c>BertProcessing</c> / <c>RobertaProcessing</c>, which are fixed templates):
/// how special tokens surround one text or a pair, e.g. <c>[CLS] A [SEP] B [SEP]</c>.
/// </summary>
internal sealed class TemplateProcessor
{
    public TemplateProcessor(IReadOnlyList<TemplatePiece> single, IReadOnlyList<TemplatePiece> pair, IReadOnlyDictionary<string, int> specialTokenIds,
        bool trimOffsets = false, bool addPrefixSpace = false)
    {
        Single = single;
        Pair = pair;
        SpecialTokenIds = specialTokenIds;
        TrimOffsets = trimOffsets;
        AddPrefixSpace = addPrefixSpace;
        foreach (var piece in single.Concat(pair))
        {
            if (piece.SpecialToken is { } token && !specialTokenIds.ContainsKey(token))
                throw new TokenizerFormatException($"The post-processor uses special token '{token}' but gives no id for it.");
        }
    }

    public IReadOnlyList<TemplatePiece> Single { get; }
    public IReadOnlyList<TemplatePiece> Pair { get; }
    public IReadOnlyDictionary<string, int> SpecialTokenIds { get; }

    /// <summary>Byte-level offset trimming (RoBERTa's <c>trim_offsets</c>): offsets leave out a token's leading and trailing spaces.</summary>
    public bool TrimOffsets { get; }

    /// <summary>With <see cref="TrimOffsets"/>: the first token's single leading space was added by the pre-tokenizer and is kept.</summary>
    public bool AddPrefixSpace { get; }

    /// <summary>[CLS] A [SEP] / [CLS] A [SEP] B [SEP] with type ids 0 / 1 (BERT, DistilBERT).</summary>
    public static TemplateProcessor Bert(string cls, int clsId, string sep, int sepId) => new(
        [TemplatePiece.Special(cls), TemplatePiece.Of('A', 0), TemplatePiece.Special(sep)],
        [TemplatePiece.Special(cls), TemplatePiece.Of('A', 0), TemplatePiece.Special(sep), TemplatePiece.Of('B', 1), TemplatePiece.Special(sep, 1)],
        new Dictionary<string, int> { [cls] = clsId, [sep] = sepId });

    /// <summary>&lt;s&gt; A &lt;/s&gt; / &lt;s&gt; A &lt;/s&gt;&lt;/s&gt; B &lt;/s&gt;, all type ids 0 (RoBERTa, XLM-R).</summary>
    public static TemplateProcessor Roberta(string cls, int clsId, string sep, int sepId, bool trimOffsets = false, bool addPrefixSpace = false) => new(
        [TemplatePiece.Special(cls), TemplatePiece.Of('A', 0), TemplatePiece.Special(sep)],
        [TemplatePiece.Special(cls), TemplatePiece.Of('A', 0), TemplatePiece.Special(sep), TemplatePiece.Special(sep), TemplatePiece.Of('B', 0), TemplatePiece.Special(sep)],
        new Dictionary<string, int> { [cls] = clsId, [sep] = sepId }, trimOffsets, addPrefixSpace);

    /// <summary>How many special tokens the template adds.</summary>
    public int AddedTokens(bool pair) => (pair ? Pair : Single).Count(p => p.SpecialToken != null);

    internal Encoding Apply(List<Token> first, List<Token>? second)
    {
        if (TrimOffsets)
        {
            Trim(first);
            if (second != null)
                Trim(second);
        }
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

    // HF's byte-level process_offsets: spaces (or Ġ) at either end of a token are not part of its offsets.
    private void Trim(List<Token> tokens)
    {
        for (var i = 0; i < tokens.Count; i++)
        {
            var t = tokens[i];
            var runes = UnicodeClasses.Runes(t.Value);
            var leading = runes.TakeWhile(IsSpace).Count();
            var trailing = Enumerable.Reverse(runes).TakeWhile(IsSpace).Count();
            if (leading == 0 && trailing == 0)
                continue;
            int start = t.Start, end = t.End;
            if (leading > 0 && !((i == 0 || start == 0) && AddPrefixSpace && leading == 1))
                start = Math.Min(start + leading, end);
            if (trailing > 0 && end >= trailing)
                end = Math.Max(end - trailing, start);
            tokens[i] = t with { Start = start, End = end };
        }
    }

    private static bool IsSpace(int rune) => rune == 0x120 || UnicodeClasses.IsWhiteSpace(rune);
}
