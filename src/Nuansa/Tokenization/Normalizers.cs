using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Nuansa.Tokenization;

/// <summary>A step that rewrites text before it is split into words (HF <c>normalizers</c>).</summary>
internal interface INormalizer
{
    void Normalize(NormalizedText text);
}

/// <summary>HF's <c>BertNormalizer</c>: clean control characters, space out CJK ideographs, strip accents, lower-case.</summary>
internal sealed class BertNormalizer(bool cleanText, bool handleChineseChars, bool? stripAccents, bool lowercase) : INormalizer
{
    public bool CleanText { get; } = cleanText;
    public bool HandleChineseChars { get; } = handleChineseChars;

    /// <summary>Null follows <see cref="Lowercase"/>, as in HF.</summary>
    public bool? StripAccents { get; } = stripAccents;
    public bool Lowercase { get; } = lowercase;

    public void Normalize(NormalizedText text)
    {
        if (CleanText)
        {
            text.Map(r => r is 0 or 0xFFFD || UnicodeClasses.IsBertControl(r) ? []
                : UnicodeClasses.IsWhiteSpace(r) && r != ' ' ? [' '] : null);
        }
        if (HandleChineseChars)
            text.Map(r => UnicodeClasses.IsChineseChar(r) ? [' ', r, ' '] : null);
        if (StripAccents ?? Lowercase)
        {
            text.Map(r => UnicodeClasses.Normalize(r, NormalizationForm.FormD));
            text.Map(r => UnicodeClasses.IsNonSpacingMark(r) ? [] : null);
        }
        if (Lowercase)
            text.Map(UnicodeClasses.ToLower);
    }
}

/// <summary>HF's <c>Lowercase</c>.</summary>
internal sealed class LowercaseNormalizer : INormalizer
{
    public void Normalize(NormalizedText text) => text.Map(UnicodeClasses.ToLower);
}

/// <summary>HF's <c>StripAccents</c>: removes non-spacing marks (used after NFD).</summary>
internal sealed class StripAccentsNormalizer : INormalizer
{
    public void Normalize(NormalizedText text) => text.Map(r => UnicodeClasses.IsNonSpacingMark(r) ? [] : null);
}

/// <summary>HF's <c>NFC</c>, <c>NFD</c>, <c>NFKC</c>, <c>NFKD</c>, applied code point by code point.</summary>
internal sealed class UnicodeNormalizer(NormalizationForm form) : INormalizer
{
    public void Normalize(NormalizedText text) => text.Map(r => UnicodeClasses.Normalize(r, form));
}

/// <summary>HF's <c>Replace</c>: every match of a literal or a regular expression becomes <paramref name="content"/>.</summary>
internal sealed class ReplaceNormalizer(Regex pattern, string content) : INormalizer
{
    public void Normalize(NormalizedText text)
    {
        var current = text.ToString();
        var matches = pattern.Matches(current);
        if (matches.Count == 0)
            return;
        var replacement = UnicodeClasses.Runes(content).Select(r => (r, 1)).ToList();
        // Work from the end so earlier rune indices stay valid; Match indices are UTF-16, so convert.
        for (var m = matches.Count - 1; m >= 0; m--)
        {
            var match = matches[m];
            if (match.Length == 0)
                continue;
            var start = RuneIndex(current, match.Index);
            var end = RuneIndex(current, match.Index + match.Length);
            // As HF: the match is removed, then the content is inserted after it (aligned to its last rune).
            text.Transform(start, end, replacement, initialRemoved: end - start);
        }
    }

    private static int RuneIndex(string text, int utf16Index)
    {
        var count = 0;
        for (var i = 0; i < utf16Index; i++)
        {
            if (!char.IsLowSurrogate(text[i]))
                count++;
        }
        return count;
    }
}

/// <summary>Several normalizers in order.</summary>
internal sealed class SequenceNormalizer(IReadOnlyList<INormalizer> steps) : INormalizer
{
    public IReadOnlyList<INormalizer> Steps { get; } = steps;

    public void Normalize(NormalizedText text)
    {
        foreach (var step in Steps)
            step.Normalize(text);
    }
}

/// <summary>
/// SentencePiece's precompiled character map (HF <c>Precompiled</c>), e.g. XLM-R's nmt_nfkc: a
/// double-array trie from UTF-8 sequences to replacement strings. Like HF, it looks up whole
/// grapheme clusters shorter than 6 bytes first, then each code point.
/// </summary>
internal sealed class PrecompiledNormalizer : INormalizer
{
    private readonly uint[] _units;
    private readonly byte[] _normalized;

    public PrecompiledNormalizer(byte[] charsmap)
    {
        if (charsmap.Length < 4)
            throw new TokenizerFormatException("The precompiled character map is too short.");
        var trieSize = BitConverter.ToUInt32(charsmap, 0);
        if (trieSize % 4 != 0 || trieSize > charsmap.Length - 4)
            throw new TokenizerFormatException("The precompiled character map's trie size is out of range.");
        _units = new uint[trieSize / 4];
        Buffer.BlockCopy(charsmap, 4, _units, 0, (int)trieSize);
        _normalized = charsmap[(4 + (int)trieSize)..];
    }

    public void Normalize(NormalizedText text)
    {
        var current = text.ToString();
        var dest = new List<(int, int)>(text.Length);
        var position = 0;
        while (position < current.Length)
        {
            var length = StringInfo.GetNextTextElementLength(current, position);
            var grapheme = current.Substring(position, length);
            var graphemeRunes = UnicodeClasses.Runes(grapheme);
            position += length;
            if (System.Text.Encoding.UTF8.GetByteCount(grapheme) < 6 && Transform(System.Text.Encoding.UTF8.GetBytes(grapheme)) is { } whole)
            {
                Add(dest, whole, graphemeRunes.Count);
                continue;
            }
            foreach (var rune in graphemeRunes)
            {
                if (Transform(System.Text.Encoding.UTF8.GetBytes(char.ConvertFromUtf32(rune))) is { } part)
                    Add(dest, part, 1);
                else
                    dest.Add((rune, 0));
            }
        }
        text.Transform(0, text.Length, dest);
    }

    // HF's change list for a replacement: the first new rune carries the length difference, the others are insertions.
    private static void Add(List<(int, int)> dest, List<int> replacement, int oldCount)
    {
        for (var i = 0; i < replacement.Count; i++)
            dest.Add((replacement[i], i == 0 ? replacement.Count - oldCount : 1));
    }

    // The replacement for the shortest key that prefixes `key`, as HF's transform takes the first common-prefix match.
    private List<int>? Transform(byte[] key)
    {
        if (_units.Length == 0)
            return null;
        uint nodePos = 0;
        var unit = _units[0];
        nodePos ^= Offset(unit);
        foreach (var c in key)
        {
            if (c == 0)
                break;
            nodePos ^= c;
            if (nodePos >= _units.Length)
                return null;
            unit = _units[nodePos];
            if ((unit & ((1u << 31) | 0xFF)) != c)
                return null;
            nodePos ^= Offset(unit);
            if (((unit >> 8) & 1) == 1)
            {
                if (nodePos >= _units.Length)
                    return null;
                var index = (int)(_units[nodePos] & ((1u << 31) - 1));
                if (index >= _normalized.Length)
                    return null;
                var end = Array.IndexOf(_normalized, (byte)0, index);
                if (end < 0)
                    end = _normalized.Length;
                return UnicodeClasses.Runes(System.Text.Encoding.UTF8.GetString(_normalized, index, end - index));
            }
        }
        return null;
    }

    private static uint Offset(uint unit) => (unit >> 10) << (int)((unit & (1u << 9)) >> 6);
}
