namespace Nuansa.Tokenization;

/// <summary>A token matched in the raw text before normalization (special tokens such as [CLS] or &lt;mask&gt;), as HF's <c>added_tokens</c>.</summary>
public sealed record AddedToken(int Id, string Content, bool Special, bool LStrip = false, bool RStrip = false, bool SingleWord = false, bool Normalized = false);

/// <summary>Splits raw text around added tokens, leftmost-longest first, as HF's <c>AddedVocabulary</c> does.</summary>
internal sealed class AddedTokenSplitter(IReadOnlyList<AddedToken> tokens)
{
    private readonly AddedToken[] _tokens = [.. tokens.Where(t => t.Content.Length > 0)];
    private readonly List<int>[] _contents = [.. tokens.Where(t => t.Content.Length > 0).Select(t => UnicodeClasses.Runes(t.Content))];

    /// <summary>Pieces of <paramref name="runes"/> in order: plain text ranges (Token null) and added-token matches.</summary>
    public List<(int Start, int End, AddedToken? Token)> Split(IReadOnlyList<int> runes)
    {
        var pieces = new List<(int, int, AddedToken?)>();
        var plainStart = 0;
        var i = 0;
        while (i < runes.Count)
        {
            var (token, length) = LongestAt(runes, i);
            if (token == null)
            {
                i++;
                continue;
            }
            int start = i, end = i + length;
            if (token.SingleWord && (IsWordChar(runes, start - 1) || IsWordChar(runes, end)))
            {
                i++;
                continue;
            }
            if (token.LStrip)
            {
                while (start > plainStart && UnicodeClasses.IsWhiteSpace(runes[start - 1]))
                    start--;
            }
            if (token.RStrip)
            {
                while (end < runes.Count && UnicodeClasses.IsWhiteSpace(runes[end]))
                    end++;
            }
            if (start > plainStart)
                pieces.Add((plainStart, start, null));
            pieces.Add((start, end, token));
            plainStart = i = end;
        }
        if (plainStart < runes.Count)
            pieces.Add((plainStart, runes.Count, null));
        return pieces;
    }

    private (AddedToken?, int) LongestAt(IReadOnlyList<int> runes, int at)
    {
        AddedToken? best = null;
        var bestLength = 0;
        for (var t = 0; t < _tokens.Length; t++)
        {
            var content = _contents[t];
            if (content.Count <= bestLength || at + content.Count > runes.Count)
                continue;
            var match = true;
            for (var k = 0; k < content.Count && match; k++)
                match = runes[at + k] == content[k];
            if (match)
            {
                best = _tokens[t];
                bestLength = content.Count;
            }
        }
        return (best, bestLength);
    }

    private static bool IsWordChar(IReadOnlyList<int> runes, int index) =>
        index >= 0 && index < runes.Count && (UnicodeClasses.IsLetter(runes[index]) || UnicodeClasses.IsNumber(runes[index]) || runes[index] == '_');
}
