using System.Text.Json;
using System.Text.Json.Nodes;

namespace Nuansa.Data;

/// <summary>The word-level edits of "easy data augmentation" (EDA: Wei and Zou, 2019).</summary>
[Flags]
public enum AugmentOperations
{
    /// <summary>No edit.</summary>
    None = 0,

    /// <summary>Swap two random words.</summary>
    Swap = 1,

    /// <summary>Delete each word with probability alpha (never every word).</summary>
    Delete = 2,

    /// <summary>Replace words with a synonym from the synonyms table.</summary>
    Synonym = 4,

    /// <summary>Insert a synonym of a random word at a random position.</summary>
    Insert = 8,

    /// <summary>Every edit.</summary>
    All = Swap | Delete | Synonym | Insert,
}

/// <summary>Settings of <see cref="TextAugmentation"/>.</summary>
public sealed record AugmentOptions
{
    /// <summary>Share of a text's words an edit touches (at least one word).</summary>
    public double Alpha { get; init; } = 0.1;

    /// <summary>The edits a variant may be made with (one, drawn at random, per variant).</summary>
    public AugmentOperations Operations { get; init; } = AugmentOperations.All;

    /// <summary>Word (lower-case) → synonyms; the synonym and insert edits need it.</summary>
    public IReadOnlyDictionary<string, string[]> Synonyms { get; init; } = new Dictionary<string, string[]>();
}

/// <summary>
/// Text variants for minority classes, as the emotion card recommends ("stronger augmentation"): each variant
/// applies one randomly chosen EDA edit. Back-translation needs translation models and is not done here; synonym
/// edits use a table the user provides (for Indonesian, e.g. a thesaurus export), so nothing is invented.
/// </summary>
public static class TextAugmentation
{
    /// <summary>Up to <paramref name="count"/> distinct variants of <paramref name="text"/>, none equal to it.</summary>
    public static IReadOnlyList<string> Variants(string text, int count, AugmentOptions options, Random random)
    {
        var words = text.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var operations = Enum.GetValues<AugmentOperations>()
            .Where(o => o is not (AugmentOperations.None or AugmentOperations.All) && options.Operations.HasFlag(o))
            .Where(o => o is not (AugmentOperations.Synonym or AugmentOperations.Insert) || words.Any(w => options.Synonyms.ContainsKey(w.ToLowerInvariant())))
            .Where(o => o is not (AugmentOperations.Swap or AugmentOperations.Delete) || words.Length > 1)
            .ToArray();
        var variants = new List<string>();
        if (operations.Length == 0)
            return variants;
        var seen = new HashSet<string>(StringComparer.Ordinal) { string.Join(' ', words) };
        // A few attempts per variant: short texts have few distinct edits.
        for (var attempt = 0; attempt < count * 5 && variants.Count < count; attempt++)
        {
            var edited = Apply(words, operations[random.Next(operations.Length)], options, random);
            var variant = string.Join(' ', edited);
            if (seen.Add(variant))
                variants.Add(variant);
        }
        return variants;
    }

    private static List<string> Apply(string[] original, AugmentOperations operation, AugmentOptions options, Random random)
    {
        var words = original.ToList();
        var n = Math.Max(1, (int)Math.Round(options.Alpha * words.Count));
        switch (operation)
        {
            case AugmentOperations.Swap:
                for (var k = 0; k < n; k++)
                {
                    int i = random.Next(words.Count), j = random.Next(words.Count);
                    (words[i], words[j]) = (words[j], words[i]);
                }
                break;
            case AugmentOperations.Delete:
                var kept = words.Where(_ => random.NextDouble() >= options.Alpha).ToList();
                words = kept.Count > 0 ? kept : [words[random.Next(words.Count)]];
                break;
            case AugmentOperations.Synonym:
                foreach (var i in Enumerable.Range(0, words.Count).Where(i => options.Synonyms.ContainsKey(words[i].ToLowerInvariant())).OrderBy(_ => random.Next()).Take(n).ToList())
                {
                    var synonyms = options.Synonyms[words[i].ToLowerInvariant()];
                    words[i] = synonyms[random.Next(synonyms.Length)];
                }
                break;
            case AugmentOperations.Insert:
                var candidates = words.Where(w => options.Synonyms.ContainsKey(w.ToLowerInvariant())).ToList();
                for (var k = 0; k < n; k++)
                {
                    var synonyms = options.Synonyms[candidates[random.Next(candidates.Count)].ToLowerInvariant()];
                    words.Insert(random.Next(words.Count + 1), synonyms[random.Next(synonyms.Length)]);
                }
                break;
        }
        return words;
    }

    /// <summary>
    /// Reads a synonyms table: TSV lines <c>word&lt;TAB&gt;synonym,synonym,...</c>, or a JSON object word → list of synonyms.
    /// Words are matched lower-cased.
    /// </summary>
    public static Dictionary<string, string[]> ReadSynonyms(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists)
            throw new NuansaException($"{path}: synonyms file not found.");
        if (info.Length > 64 << 20)
            throw new NuansaException($"{path}: a synonyms file over 64 MB is not supported.");
        var text = File.ReadAllText(path);
        var result = new Dictionary<string, string[]>(StringComparer.Ordinal);
        if (text.TrimStart().StartsWith('{'))
        {
            JsonNode? root;
            try
            {
                root = JsonNode.Parse(text);
            }
            catch (JsonException e)
            {
                throw new NuansaException($"{path}: not valid JSON ({e.Message}).");
            }
            foreach (var (word, list) in root!.AsObject())
            {
                if (list is not JsonArray a || a.Count == 0 || a.Any(s => s is not JsonValue v || v.GetValueKind() != JsonValueKind.String))
                    throw new NuansaException($"{path}: \"{word}\" must map to a non-empty list of synonyms.");
                result[word.ToLowerInvariant()] = [.. a.Select(s => s!.GetValue<string>())];
            }
            return result;
        }
        var lines = text.Split('\n');
        for (var n = 0; n < lines.Length; n++)
        {
            var line = lines[n].TrimEnd('\r');
            if (line.Length == 0)
                continue;
            var parts = line.Split('\t');
            var synonyms = parts.Length == 2 ? parts[1].Split(',').Select(s => s.Trim()).Where(s => s.Length > 0).ToArray() : [];
            if (parts.Length != 2 || parts[0].Trim().Length == 0 || synonyms.Length == 0)
                throw new NuansaException($"{path}, line {n + 1}: expected \"word<TAB>synonym,synonym,...\".");
            result[parts[0].Trim().ToLowerInvariant()] = synonyms;
        }
        return result;
    }
}
