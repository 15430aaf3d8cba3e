using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Nuansa.Checkpoints;

namespace Nuansa.Data;

/// <summary>
/// Light normalization of informal text before tokenization, as the emotion card recommends for chat data:
/// lower-casing, collapsing characters repeated for emphasis ("bagusssss" → "baguss"), and replacing slang or
/// abbreviations word by word ("gk" → "tidak"). A model trained with it keeps it in <c>config.json</c>
/// (<c>nuansa_preprocessing</c>), so classification, evaluation and serving apply exactly the same steps.
/// </summary>
public sealed record TextPreprocessing
{
    /// <summary>The config.json field the preprocessing is saved under.</summary>
    public const string ConfigField = "nuansa_preprocessing";

    /// <summary>Lower-case the text (invariant culture), before the tokenizer's own normalization.</summary>
    public bool Lowercase { get; init; }

    /// <summary>Runs of one character longer than this are cut to this length; null keeps them.</summary>
    public int? MaxRepeat { get; init; }

    private readonly IReadOnlyDictionary<string, string> _replacements = new Dictionary<string, string>();
    private readonly Dictionary<string, string> _lookup = new(StringComparer.Ordinal);

    /// <summary>Whole words (runs of letters and digits, compared case-insensitively) and what replaces them.</summary>
    public IReadOnlyDictionary<string, string> Replacements
    {
        get => _replacements;
        init
        {
            // Looked up lower-cased, built once here rather than for every text.
            _replacements = value;
            _lookup = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var (word, replacement) in value)
            {
                if (!_lookup.TryAdd(word.ToLowerInvariant(), replacement))
                    throw new NuansaException($"The replacements list \"{word}\" twice (words are compared without case).");
            }
        }
    }

    /// <summary>True when it changes nothing.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public bool IsEmpty => !Lowercase && MaxRepeat == null && Replacements.Count == 0;

    /// <summary>The text after each step: lower-casing, cutting repeated characters, replacing words.</summary>
    public string Apply(string text)
    {
        if (IsEmpty)
            return text;
        if (Lowercase)
            text = text.ToLowerInvariant();
        if (MaxRepeat is { } max)
            text = CollapseRepeats(text, max);
        if (Replacements.Count > 0)
            text = ReplaceWords(text);
        return text;
    }

    private static string CollapseRepeats(string text, int max)
    {
        var result = new StringBuilder(text.Length);
        var run = 0;
        Rune previous = default;
        foreach (var rune in text.EnumerateRunes())
        {
            run = rune == previous ? run + 1 : 1;
            previous = rune;
            if (run <= max)
                result.Append(rune.ToString());
        }
        return result.ToString();
    }

    private string ReplaceWords(string text)
    {
        var result = new StringBuilder(text.Length);
        var i = 0;
        while (i < text.Length)
        {
            if (!IsWordChar(text, i))
            {
                result.Append(text[i++]);
                continue;
            }
            var start = i;
            while (i < text.Length && IsWordChar(text, i))
                i += char.IsSurrogatePair(text, i) ? 2 : 1;
            var word = text[start..i];
            result.Append(_lookup.TryGetValue(word.ToLowerInvariant(), out var replacement) ? replacement : word);
        }
        return result.ToString();
    }

    private static bool IsWordChar(string text, int i) =>
        Rune.TryGetRuneAt(text, i, out var rune) && (Rune.IsLetterOrDigit(rune) || Rune.GetUnicodeCategory(rune) is UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark);

    /// <summary>The steps a model's config records, or none.</summary>
    public static TextPreprocessing FromConfig(ModelConfig config)
    {
        if (config[ConfigField] is not JsonNode node)
            return new TextPreprocessing();
        try
        {
            return Parse(node);
        }
        catch (NuansaException e)
        {
            throw new CheckpointFormatException($"{config.Source}: \"{ConfigField}\" {e.Message}");
        }
    }

    /// <summary>The config entry for these steps.</summary>
    public JsonObject ToJson()
    {
        var o = new JsonObject { ["lowercase"] = Lowercase };
        if (MaxRepeat is { } max)
            o["max_repeat"] = max;
        o["replacements"] = new JsonObject(Replacements.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => KeyValuePair.Create(p.Key, (JsonNode?)p.Value)));
        return o;
    }

    private static TextPreprocessing Parse(JsonNode node)
    {
        if (node is not JsonObject o)
            throw new NuansaException("must be an object.");
        var unknown = o.Select(p => p.Key).FirstOrDefault(k => k is not ("lowercase" or "max_repeat" or "replacements"));
        if (unknown != null)
            throw new NuansaException($"has an unknown field \"{unknown}\".");
        var lowercase = o["lowercase"] switch
        {
            null => false,
            JsonValue v when v.GetValueKind() is JsonValueKind.True or JsonValueKind.False => v.GetValue<bool>(),
            _ => throw new NuansaException("\"lowercase\" must be true or false."),
        };
        int? maxRepeat = o["max_repeat"] switch
        {
            null => null,
            JsonValue v when v.GetValueKind() == JsonValueKind.Number && v.TryGetValue(out int m) && m >= 1 => m,
            _ => throw new NuansaException("\"max_repeat\" must be a whole number of at least 1."),
        };
        var replacements = o["replacements"] switch
        {
            null => new Dictionary<string, string>(),
            JsonObject r when r.All(p => p.Value is JsonValue v && v.GetValueKind() == JsonValueKind.String) =>
                r.ToDictionary(p => p.Key, p => p.Value!.GetValue<string>(), StringComparer.Ordinal),
            _ => throw new NuansaException("\"replacements\" must map words to replacement strings."),
        };
        return new TextPreprocessing { Lowercase = lowercase, MaxRepeat = maxRepeat, Replacements = replacements };
    }

    /// <summary>
    /// Reads a replacements file: TSV lines <c>word&lt;TAB&gt;replacement</c> (a header line <c>word	replacement</c> is
    /// skipped), or a JSON object of word → replacement.
    /// </summary>
    public static Dictionary<string, string> ReadReplacements(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists)
            throw new NuansaException($"{path}: replacements file not found.");
        if (info.Length > 16 << 20)
            throw new NuansaException($"{path}: a replacements file over 16 MB is not supported.");
        var text = File.ReadAllText(path);
        if (text.TrimStart().StartsWith('{'))
        {
            try
            {
                return Parse(new JsonObject { ["replacements"] = JsonNode.Parse(text) }).Replacements.ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
            }
            catch (Exception e) when (e is JsonException or NuansaException)
            {
                throw new NuansaException($"{path}: {e.Message}");
            }
        }
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        var lines = text.Split('\n');
        for (var n = 0; n < lines.Length; n++)
        {
            var line = lines[n].TrimEnd('\r');
            if (line.Length == 0 || (n == 0 && line == "word\treplacement"))
                continue;
            var parts = line.Split('\t');
            if (parts.Length != 2 || parts[0].Trim().Length == 0)
                throw new NuansaException($"{path}, line {n + 1}: expected \"word<TAB>replacement\".");
            if (!result.TryAdd(parts[0].Trim(), parts[1].Trim()))
                throw new NuansaException($"{path}, line {n + 1}: \"{parts[0].Trim()}\" is listed twice.");
        }
        return result;
    }
}
