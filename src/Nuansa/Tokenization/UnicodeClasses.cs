using System.Globalization;
using System.Text;

namespace Nuansa.Tokenization;

/// <summary>The character classes HF's tokenizers use, on code points.</summary>
internal static class UnicodeClasses
{
    public static UnicodeCategory Category(int rune) => CharUnicodeInfo.GetUnicodeCategory(rune);

    /// <summary>Rust's <c>char::is_whitespace</c> (the White_Space property).</summary>
    public static bool IsWhiteSpace(int rune) => rune switch
    {
        >= 0x09 and <= 0x0D or 0x20 or 0x85 or 0xA0 or 0x1680 or (>= 0x2000 and <= 0x200A)
            or 0x2028 or 0x2029 or 0x202F or 0x205F or 0x3000 => true,
        _ => false,
    };

    /// <summary>HF BERT's control test: general category C* but not unassigned, and tab/newline/return are whitespace instead.</summary>
    public static bool IsBertControl(int rune)
    {
        if (rune is '\t' or '\n' or '\r')
            return false;
        return Category(rune) is UnicodeCategory.Control or UnicodeCategory.Format
            or UnicodeCategory.PrivateUse or UnicodeCategory.Surrogate;
    }

    /// <summary>HF BERT's punctuation test: any ASCII punctuation (which includes $ + &lt; = &gt; ^ ` | ~) or Unicode P*.</summary>
    public static bool IsBertPunctuation(int rune)
    {
        if (rune is (>= 33 and <= 47) or (>= 58 and <= 64) or (>= 91 and <= 96) or (>= 123 and <= 126))
            return true;
        return Category(rune) is UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation
            or UnicodeCategory.OpenPunctuation or UnicodeCategory.ClosePunctuation
            or UnicodeCategory.InitialQuotePunctuation or UnicodeCategory.FinalQuotePunctuation
            or UnicodeCategory.OtherPunctuation;
    }

    /// <summary>The CJK ideograph blocks BERT surrounds with spaces.</summary>
    public static bool IsChineseChar(int rune) => rune is (>= 0x4E00 and <= 0x9FFF) or (>= 0x3400 and <= 0x4DBF)
        or (>= 0x20000 and <= 0x2A6DF) or (>= 0x2A700 and <= 0x2B73F) or (>= 0x2B740 and <= 0x2B81F)
        or (>= 0x2B820 and <= 0x2CEAF) or (>= 0xF900 and <= 0xFAFF) or (>= 0x2F800 and <= 0x2FA1F);

    public static bool IsLetter(int rune) => Category(rune) is UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter
        or UnicodeCategory.TitlecaseLetter or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter;

    public static bool IsNumber(int rune) => Category(rune) is UnicodeCategory.DecimalDigitNumber
        or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber;

    public static bool IsNonSpacingMark(int rune) => Category(rune) == UnicodeCategory.NonSpacingMark;

    /// <summary>Full lower-case mapping of one code point, as Rust's <c>char::to_lowercase</c> (İ is the one two-code-point case).</summary>
    public static IEnumerable<int>? ToLower(int rune)
    {
        if (rune == 0x130)
            return [0x69, 0x307];
        var lower = Rune.ToLowerInvariant(new Rune(rune)).Value;
        return lower == rune ? null : [lower];
    }

    /// <summary>Applies a Unicode normalization form to one code point (null when unchanged).</summary>
    public static IEnumerable<int>? Normalize(int rune, NormalizationForm form)
    {
        if (rune < 0x80)
            return null;
        var text = char.ConvertFromUtf32(rune);
        var normalized = text.Normalize(form);
        return normalized == text ? null : Runes(normalized);
    }

    public static List<int> Runes(string text)
    {
        var runes = new List<int>(text.Length);
        foreach (var r in text.EnumerateRunes())
            runes.Add(r.Value);
        return runes;
    }
}
