using System.Text;

namespace Nuansa.Tokenization;

/// <summary>A step that splits normalized text into words (HF <c>pre_tokenizers</c>).</summary>
internal interface IPreTokenizer
{
    /// <summary>Splits every piece further; pieces are returned in order.</summary>
    List<NormalizedText> PreTokenize(List<NormalizedText> pieces);
}

/// <summary>HF's <c>BertPreTokenizer</c>: split on whitespace (dropped) and around every punctuation character.</summary>
internal sealed class BertPreTokenizer : IPreTokenizer
{
    public List<NormalizedText> PreTokenize(List<NormalizedText> pieces)
    {
        var words = new List<NormalizedText>();
        foreach (var piece in pieces)
        {
            var start = 0;
            for (var i = 0; i <= piece.Length; i++)
            {
                var end = i == piece.Length || UnicodeClasses.IsWhiteSpace(piece[i]) || UnicodeClasses.IsBertPunctuation(piece[i]);
                if (!end)
                    continue;
                if (i > start)
                    words.Add(piece.Slice(start, i));
                if (i < piece.Length && UnicodeClasses.IsBertPunctuation(piece[i]))
                    words.Add(piece.Slice(i, i + 1));
                start = i + 1;
            }
        }
        return words;
    }
}

/// <summary>
/// HF's <c>ByteLevel</c> pre-tokenizer (GPT-2, RoBERTa): split with GPT-2's pattern
/// <c>'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+</c>, then spell each
/// word's UTF-8 bytes with the 256 printable characters of GPT-2's byte alphabet. The pattern is
/// matched by hand on code points, so letters outside the BMP count as letters.
/// </summary>
internal sealed class ByteLevelPreTokenizer(bool addPrefixSpace, bool useRegex) : IPreTokenizer
{
    private static readonly int[] ByteToRune = BuildAlphabet();

    public bool AddPrefixSpace { get; } = addPrefixSpace;
    public bool UseRegex { get; } = useRegex;

    /// <summary>GPT-2's byte → character table: printable Latin-1 bytes stand for themselves, the rest are shifted past 255.</summary>
    public static IReadOnlyList<int> Alphabet => ByteToRune;

    public List<NormalizedText> PreTokenize(List<NormalizedText> pieces)
    {
        var words = new List<NormalizedText>();
        foreach (var piece in pieces)
        {
            if (AddPrefixSpace && piece.Length > 0 && piece[0] != ' ')
                piece.Prepend(' ');
            if (!UseRegex)
            {
                words.Add(ToBytes(piece));
                continue;
            }
            var i = 0;
            while (i < piece.Length)
            {
                var end = MatchAt(piece, i);
                words.Add(ToBytes(piece.Slice(i, end)));
                i = end;
            }
        }
        return words;
    }

    // End of the GPT-2 pattern's match starting at `i` (the pattern always matches at least one code point).
    private static int MatchAt(NormalizedText s, int i)
    {
        var n = s.Length;
        if (s[i] == '\'' && i + 1 < n)
        {
            foreach (var suffix in new[] { "s", "t", "re", "ve", "m", "ll", "d" })
            {
                if (i + 1 + suffix.Length <= n && Matches(s, i + 1, suffix))
                    return i + 1 + suffix.Length;
            }
        }
        var afterSpace = s[i] == ' ' && i + 1 < n ? i + 1 : i;
        foreach (var cls in new Func<int, bool>[] { UnicodeClasses.IsLetter, UnicodeClasses.IsNumber, IsOther })
        {
            var start = cls(s[i]) ? i : afterSpace != i && cls(s[afterSpace]) ? afterSpace : -1;
            if (start < 0)
                continue;
            var end = start;
            while (end < n && cls(s[end]))
                end++;
            return end;
        }
        // \s+(?!\S) then \s+
        var run = i;
        while (run < n && UnicodeClasses.IsWhiteSpace(s[run]))
            run++;
        if (run == n || run - i == 1)
            return run;
        return run - 1;
    }

    private static bool IsOther(int r) => !UnicodeClasses.IsWhiteSpace(r) && !UnicodeClasses.IsLetter(r) && !UnicodeClasses.IsNumber(r);

    private static bool Matches(NormalizedText s, int at, string ascii)
    {
        for (var k = 0; k < ascii.Length; k++)
        {
            if (s[at + k] != ascii[k])
                return false;
        }
        return true;
    }

    private static NormalizedText ToBytes(NormalizedText word)
    {
        var utf8 = new byte[4];
        word.Map(r =>
        {
            var count = new Rune(r).EncodeToUtf8(utf8);
            var mapped = new int[count];
            for (var k = 0; k < count; k++)
                mapped[k] = ByteToRune[utf8[k]];
            return mapped.Length == 1 && mapped[0] == r ? null : mapped;
        });
        return word;
    }

    private static int[] BuildAlphabet()
    {
        var table = new int[256];
        var next = 256;
        for (var b = 0; b < 256; b++)
        {
            var printable = b is (>= '!' and <= '~') or (>= 0xA1 and <= 0xAC) or (>= 0xAE and <= 0xFF);
            table[b] = printable ? b : next++;
        }
        return table;
    }
}

/// <summary>HF's <c>Metaspace</c> (SentencePiece): spaces become ▁, a ▁ is prepended, and words start at each ▁.</summary>
internal sealed class MetaspacePreTokenizer(int replacement, string prependScheme, bool split) : IPreTokenizer
{
    public int Replacement { get; } = replacement;

    /// <summary><c>always</c>, <c>first</c> or <c>never</c>.</summary>
    public string PrependScheme { get; } = prependScheme;
    public bool Split { get; } = split;

    public List<NormalizedText> PreTokenize(List<NormalizedText> pieces)
    {
        var words = new List<NormalizedText>();
        for (var p = 0; p < pieces.Count; p++)
        {
            var piece = pieces[p];
            piece.Map(r => r == ' ' ? [Replacement] : null);
            var prepend = PrependScheme == "always" || (PrependScheme == "first" && p == 0);
            if (prepend && piece.Length > 0 && piece[0] != Replacement)
                piece.Prepend(Replacement);
            if (!Split)
            {
                words.Add(piece);
                continue;
            }
            var start = 0;
            for (var i = 1; i <= piece.Length; i++)
            {
                if (i == piece.Length || piece[i] == Replacement)
                {
                    if (i > start)
                        words.Add(piece.Slice(start, i));
                    start = i;
                }
            }
        }
        return words;
    }
}

/// <summary>HF's <c>WhitespaceSplit</c>: split on whitespace only.</summary>
internal sealed class WhitespaceSplitPreTokenizer : IPreTokenizer
{
    public List<NormalizedText> PreTokenize(List<NormalizedText> pieces)
    {
        var words = new List<NormalizedText>();
        foreach (var piece in pieces)
        {
            var start = 0;
            for (var i = 0; i <= piece.Length; i++)
            {
                if (i < piece.Length && !UnicodeClasses.IsWhiteSpace(piece[i]))
                    continue;
                if (i > start)
                    words.Add(piece.Slice(start, i));
                start = i + 1;
            }
        }
        return words;
    }
}

/// <summary>Several pre-tokenizers in order.</summary>
internal sealed class SequencePreTokenizer(IReadOnlyList<IPreTokenizer> steps) : IPreTokenizer
{
    public List<NormalizedText> PreTokenize(List<NormalizedText> pieces)
    {
        foreach (var step in steps)
            pieces = step.PreTokenize(pieces);
        return pieces;
    }
}
