using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Nuansa.Tokenization;

/// <summary>
/// Builds a <see cref="Tokenizer"/> from a checkpoint folder: <c>tokenizer.json</c> when present (any WordPiece,
/// BPE or Unigram tokenizer in HF's format), otherwise what HF's converters build from <c>vocab.txt</c> (BERT),
/// <c>vocab.json</c> + <c>merges.txt</c> (RoBERTa) or <c>sentencepiece.bpe.model</c> (XLM-R), with the settings
/// of <c>tokenizer_config.json</c>.
/// </summary>
internal static class TokenizerLoader
{
    private const long MaxJsonBytes = 256L << 20;
    private const int VeryLargeLength = 1_000_000_000;

    public static Tokenizer Load(string directory)
    {
        if (!Directory.Exists(directory))
            throw new TokenizerFormatException($"{directory}: no such folder.");
        var settings = ReadSettings(directory);
        var tokenizerJson = Path.Combine(directory, "tokenizer.json");
        if (File.Exists(tokenizerJson))
            return FromTokenizerJson(tokenizerJson, settings);
        if (File.Exists(Path.Combine(directory, "vocab.txt")))
            return FromWordPieceVocab(Path.Combine(directory, "vocab.txt"), settings);
        if (File.Exists(Path.Combine(directory, "vocab.json")) && File.Exists(Path.Combine(directory, "merges.txt")))
            return FromBpeFiles(Path.Combine(directory, "vocab.json"), Path.Combine(directory, "merges.txt"), settings);
        if (File.Exists(Path.Combine(directory, "sentencepiece.bpe.model")))
            return FromSentencePiece(Path.Combine(directory, "sentencepiece.bpe.model"), settings);
        throw new TokenizerFormatException(
            $"{directory}: no tokenizer files; expected tokenizer.json, vocab.txt, vocab.json + merges.txt, or sentencepiece.bpe.model.");
    }

    /// <summary>Reads a <c>tokenizer.json</c> file.</summary>
    public static Tokenizer FromTokenizerJson(string path, TokenizerSettings? settings = null)
    {
        settings ??= new TokenizerSettings();
        using var document = ParseJson(path);
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
            throw Bad(path, "the top level is not an object");
        var added = new List<AddedToken>();
        if (root.TryGetProperty("added_tokens", out var addedTokens) && addedTokens.ValueKind == JsonValueKind.Array)
        {
            foreach (var t in addedTokens.EnumerateArray())
            {
                added.Add(new AddedToken(
                    Int(t, "id", path), Str(t, "content", path)!, Bool(t, "special"), Bool(t, "lstrip"), Bool(t, "rstrip"),
                    Bool(t, "single_word"), Bool(t, "normalized")));
            }
        }
        var model = ReadModel(Get(root, "model", path), path);
        var normalizer = root.TryGetProperty("normalizer", out var n) ? ReadNormalizer(n, path) : null;
        var preTokenizer = root.TryGetProperty("pre_tokenizer", out var p) ? ReadPreTokenizer(p, path) : null;
        var post = root.TryGetProperty("post_processor", out var pp) ? ReadPostProcessor(pp, path) : null;
        var pad = settings.PadToken ?? (model is UnigramModel or BpeModel ? "<pad>" : "[PAD]");
        return new Tokenizer(normalizer, preTokenizer, model, post, added, pad, settings.ModelMaxLength);
    }

    private static Tokenizer FromWordPieceVocab(string path, TokenizerSettings settings)
    {
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        var index = 0;
        foreach (var line in ReadLines(path))
            vocab[line] = index++;
        string unk = settings.Special("unk_token") ?? "[UNK]", cls = settings.Special("cls_token") ?? "[CLS]",
            sep = settings.Special("sep_token") ?? "[SEP]", pad = settings.PadToken ?? "[PAD]", mask = settings.Special("mask_token") ?? "[MASK]";
        var model = new WordPieceModel(vocab, unk);
        var lowercase = settings.Bool("do_lower_case") ?? true;
        var normalizer = new BertNormalizer(true, settings.Bool("tokenize_chinese_chars") ?? true, settings.Bool("strip_accents"), lowercase);
        var added = new[] { pad, unk, cls, sep, mask }.Where(vocab.ContainsKey).Select(t => new AddedToken(vocab[t], t, true)).ToList();
        var post = TemplateProcessor.Bert(cls, Id(vocab, cls, path), sep, Id(vocab, sep, path));
        return new Tokenizer(normalizer, new BertPreTokenizer(), model, post, added, pad, settings.ModelMaxLength);
    }

    private static Tokenizer FromBpeFiles(string vocabPath, string mergesPath, TokenizerSettings settings)
    {
        Dictionary<string, int> vocab;
        using (var document = ParseJson(vocabPath))
            vocab = ReadVocabObject(document.RootElement, vocabPath);
        var merges = new List<(string, string)>();
        foreach (var line in ReadLines(mergesPath))
        {
            if (line.StartsWith("#version", StringComparison.Ordinal) || line.Length == 0)
                continue;
            var parts = line.Split(' ');
            if (parts.Length != 2)
                throw Bad(mergesPath, $"merge \"{line}\" is not two symbols separated by one space");
            merges.Add((parts[0], parts[1]));
        }
        string cls = settings.Special("cls_token") ?? settings.Special("bos_token") ?? "<s>", sep = settings.Special("sep_token") ?? settings.Special("eos_token") ?? "</s>",
            unk = settings.Special("unk_token") ?? "<unk>", pad = settings.PadToken ?? "<pad>", mask = settings.Special("mask_token") ?? "<mask>";
        var model = new BpeModel(vocab, merges, null);
        var added = new[] { cls, pad, sep, unk }.Where(vocab.ContainsKey).Select(t => new AddedToken(vocab[t], t, true)).ToList();
        if (vocab.TryGetValue(mask, out var maskId))
            added.Add(new AddedToken(maskId, mask, true, LStrip: true));
        var addPrefixSpace = settings.Bool("add_prefix_space") ?? false;
        var post = TemplateProcessor.Roberta(cls, Id(vocab, cls, vocabPath), sep, Id(vocab, sep, vocabPath), trimOffsets: true, addPrefixSpace);
        var pre = new ByteLevelPreTokenizer(addPrefixSpace, true);
        return new Tokenizer(null, pre, model, post, added, pad, settings.ModelMaxLength);
    }

    private static Tokenizer FromSentencePiece(string path, TokenizerSettings settings)
    {
        var spm = SentencePieceModelFile.Read(path);
        if (spm.ModelType != 1)
            throw new TokenizerFormatException($"{path}: SentencePiece model type {spm.ModelType} is not supported without a tokenizer.json (XLM-R uses unigram, type 1).");
        // XLM-R's fairseq layout, as HF's XLMRobertaConverter builds it: four specials, the pieces after SentencePiece's own three, then <mask>.
        var pieces = new List<(string, double)> { ("<s>", 0), ("<pad>", 0), ("</s>", 0), ("<unk>", 0) };
        pieces.AddRange(spm.Pieces.Skip(3).Select(p => (p.Piece, (double)p.Score)));
        pieces.Add(("<mask>", 0));
        var model = new UnigramModel(pieces, 3);
        var steps = new List<INormalizer>();
        if (spm.PrecompiledCharsmap is { Length: > 0 } charsmap)
            steps.Add(new PrecompiledNormalizer(charsmap));
        steps.Add(new ReplaceNormalizer(new Regex(" {2,}", RegexOptions.CultureInvariant), " "));
        var added = new List<AddedToken>
        {
            new(0, "<s>", true), new(1, "<pad>", true), new(2, "</s>", true), new(3, "<unk>", true),
            new(pieces.Count - 1, "<mask>", true, LStrip: true),
        };
        var post = TemplateProcessor.Roberta("<s>", 0, "</s>", 2);
        return new Tokenizer(new SequenceNormalizer(steps), new MetaspacePreTokenizer('\u2581', "always", true), model, post, added,
            settings.PadToken ?? "<pad>", settings.ModelMaxLength);
    }

    private static ITokenizerModel ReadModel(JsonElement model, string path)
    {
        var type = Str(model, "type", path);
        switch (type)
        {
            case "WordPiece":
                return new WordPieceModel(ReadVocabObject(Get(model, "vocab", path), path), Str(model, "unk_token", path) ?? "[UNK]",
                    Str(model, "continuing_subword_prefix", path) ?? "##",
                    model.TryGetProperty("max_input_chars_per_word", out var m) && m.ValueKind == JsonValueKind.Number ? m.GetInt32() : 100);
            case "BPE":
            {
                if (!string.IsNullOrEmpty(Str(model, "continuing_subword_prefix", path)) || !string.IsNullOrEmpty(Str(model, "end_of_word_suffix", path))
                    || Bool(model, "byte_fallback") || model.TryGetProperty("dropout", out var d) && d.ValueKind == JsonValueKind.Number)
                {
                    throw new TokenizerFormatException($"{path}: BPE with a subword prefix/suffix, byte fallback or dropout is not supported; Nuansa supports byte-level BPE as RoBERTa uses it.");
                }
                var merges = new List<(string, string)>();
                foreach (var merge in Get(model, "merges", path).EnumerateArray())
                {
                    if (merge.ValueKind == JsonValueKind.String && merge.GetString()!.Split(' ') is [var a, var b])
                        merges.Add((a, b));
                    else if (merge.ValueKind == JsonValueKind.Array && merge.GetArrayLength() == 2)
                        merges.Add((merge[0].GetString()!, merge[1].GetString()!));
                    else
                        throw Bad(path, $"merge {merge.GetRawText()} is neither \"a b\" nor [\"a\", \"b\"]");
                }
                return new BpeModel(ReadVocabObject(Get(model, "vocab", path), path), merges, Str(model, "unk_token", path));
            }
            case "Unigram":
            {
                if (Bool(model, "byte_fallback"))
                    throw new TokenizerFormatException($"{path}: Unigram with byte fallback is not supported.");
                var pieces = new List<(string, double)>();
                foreach (var entry in Get(model, "vocab", path).EnumerateArray())
                {
                    if (entry.ValueKind != JsonValueKind.Array || entry.GetArrayLength() != 2 || entry[0].ValueKind != JsonValueKind.String || entry[1].ValueKind != JsonValueKind.Number)
                        throw Bad(path, $"Unigram vocabulary entry {entry.GetRawText()} is not [piece, score]");
                    pieces.Add((entry[0].GetString()!, entry[1].GetDouble()));
                }
                return new UnigramModel(pieces, model.TryGetProperty("unk_id", out var u) && u.ValueKind == JsonValueKind.Number ? u.GetInt32()
                    : throw Bad(path, "the Unigram model has no unk_id"));
            }
            default:
                throw new TokenizerFormatException($"{path}: tokenizer model type \"{type}\" is not supported (WordPiece, BPE and Unigram are).");
        }
    }

    private static INormalizer? ReadNormalizer(JsonElement n, string path)
    {
        if (n.ValueKind == JsonValueKind.Null)
            return null;
        var type = Str(n, "type", path);
        return type switch
        {
            "BertNormalizer" => new BertNormalizer(BoolOr(n, "clean_text", true), BoolOr(n, "handle_chinese_chars", true),
                n.TryGetProperty("strip_accents", out var s) && s.ValueKind is JsonValueKind.True or JsonValueKind.False ? s.GetBoolean() : null,
                BoolOr(n, "lowercase", true)),
            "Lowercase" => new LowercaseNormalizer(),
            "StripAccents" => new StripAccentsNormalizer(),
            "NFD" => new UnicodeNormalizer(NormalizationForm.FormD),
            "NFC" => new UnicodeNormalizer(NormalizationForm.FormC),
            "NFKD" => new UnicodeNormalizer(NormalizationForm.FormKD),
            "NFKC" => new UnicodeNormalizer(NormalizationForm.FormKC),
            "Precompiled" => n.TryGetProperty("precompiled_charsmap", out var c) && c.ValueKind == JsonValueKind.String
                ? new PrecompiledNormalizer(Convert.FromBase64String(c.GetString()!))
                : new SequenceNormalizer([]),
            "Replace" => new ReplaceNormalizer(Pattern(Get(n, "pattern", path), path), Str(n, "content", path) ?? ""),
            "Sequence" => new SequenceNormalizer([.. Get(n, "normalizers", path).EnumerateArray().Select(x => ReadNormalizer(x, path)).OfType<INormalizer>()]),
            _ => throw new TokenizerFormatException($"{path}: normalizer \"{type}\" is not supported."),
        };
    }

    private static IPreTokenizer? ReadPreTokenizer(JsonElement p, string path)
    {
        if (p.ValueKind == JsonValueKind.Null)
            return null;
        var type = Str(p, "type", path);
        return type switch
        {
            "BertPreTokenizer" => new BertPreTokenizer(),
            "ByteLevel" => new ByteLevelPreTokenizer(BoolOr(p, "add_prefix_space", true), BoolOr(p, "use_regex", true)),
            "Metaspace" => new MetaspacePreTokenizer(
                UnicodeClasses.Runes(Str(p, "replacement", path) ?? "\u2581")[0],
                Str(p, "prepend_scheme", path) ?? (BoolOr(p, "add_prefix_space", true) ? "always" : "never"),
                BoolOr(p, "split", true)),
            "WhitespaceSplit" => new WhitespaceSplitPreTokenizer(),
            "Sequence" => new SequencePreTokenizer([.. Get(p, "pretokenizers", path).EnumerateArray().Select(x => ReadPreTokenizer(x, path)).OfType<IPreTokenizer>()]),
            _ => throw new TokenizerFormatException($"{path}: pre-tokenizer \"{type}\" is not supported."),
        };
    }

    private static TemplateProcessor? ReadPostProcessor(JsonElement p, string path)
    {
        if (p.ValueKind == JsonValueKind.Null)
            return null;
        var type = Str(p, "type", path);
        switch (type)
        {
            case "TemplateProcessing":
            {
                var ids = new Dictionary<string, int>(StringComparer.Ordinal);
                foreach (var special in Get(p, "special_tokens", path).EnumerateObject())
                {
                    var list = Get(special.Value, "ids", path);
                    if (list.GetArrayLength() != 1)
                        throw new TokenizerFormatException($"{path}: special token '{special.Name}' maps to {list.GetArrayLength()} ids; only one is supported.");
                    ids[special.Name] = list[0].GetInt32();
                }
                return new TemplateProcessor(Template(Get(p, "single", path), path), Template(Get(p, "pair", path), path), ids);
            }
            case "BertProcessing":
            case "RobertaProcessing":
            {
                var cls = Get(p, "cls", path);
                var sep = Get(p, "sep", path);
                return type == "BertProcessing"
                    ? TemplateProcessor.Bert(cls[0].GetString()!, cls[1].GetInt32(), sep[0].GetString()!, sep[1].GetInt32())
                    : TemplateProcessor.Roberta(cls[0].GetString()!, cls[1].GetInt32(), sep[0].GetString()!, sep[1].GetInt32(),
                        BoolOr(p, "trim_offsets", true), BoolOr(p, "add_prefix_space", true));
            }
            case "ByteLevel":
                return null; // only adjusts offsets
            case "Sequence":
                return Get(p, "processors", path).EnumerateArray().Select(x => ReadPostProcessor(x, path)).LastOrDefault(x => x != null);
            default:
                throw new TokenizerFormatException($"{path}: post-processor \"{type}\" is not supported.");
        }
    }

    private static List<TemplatePiece> Template(JsonElement items, string path)
    {
        var pieces = new List<TemplatePiece>();
        foreach (var item in items.EnumerateArray())
        {
            if (item.TryGetProperty("SpecialToken", out var special))
                pieces.Add(TemplatePiece.Special(Str(special, "id", path)!, Int(special, "type_id", path)));
            else if (item.TryGetProperty("Sequence", out var sequence))
                pieces.Add(TemplatePiece.Of(Str(sequence, "id", path) == "B" ? 'B' : 'A', Int(sequence, "type_id", path)));
            else
                throw Bad(path, $"template item {item.GetRawText()} is neither a SpecialToken nor a Sequence");
        }
        return pieces;
    }

    private static Regex Pattern(JsonElement pattern, string path)
    {
        if (pattern.TryGetProperty("Regex", out var regex))
            return new Regex(regex.GetString()!, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
        if (pattern.TryGetProperty("String", out var literal))
            return new Regex(Regex.Escape(literal.GetString()!), RegexOptions.CultureInvariant);
        throw Bad(path, "a Replace pattern is neither Regex nor String");
    }

    /// <summary>The folder's tokenizer settings (special tokens, lower-casing, length), from its config files.</summary>
    internal static TokenizerSettings Settings(string directory) => ReadSettings(directory);

    private static TokenizerSettings ReadSettings(string directory)
    {
        var settings = new TokenizerSettings();
        foreach (var name in new[] { "special_tokens_map.json", "tokenizer_config.json" })
        {
            var file = Path.Combine(directory, name);
            if (!File.Exists(file))
                continue;
            using var document = ParseJson(file);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw Bad(file, "the top level is not an object");
            foreach (var property in document.RootElement.EnumerateObject())
                settings.Values[property.Name] = property.Value.Clone();
        }
        var maxLength = settings.Values.TryGetValue("model_max_length", out var m) && m.ValueKind == JsonValueKind.Number && m.TryGetDouble(out var v) && v > 0 && v < VeryLargeLength
            ? (int)v : (int?)null;
        if (maxLength == null && File.Exists(Path.Combine(directory, "config.json")))
        {
            // No limit in the tokenizer files: use the model's position table (RoBERTa-style models lose padding_idx + 1 positions).
            var config = Checkpoints.ModelConfig.Load(directory);
            maxLength = Models.Architecture.For(config).MaxPositions(config);
        }
        settings.ModelMaxLength = maxLength ?? 512;
        return settings;
    }

    private static Dictionary<string, int> ReadVocabObject(JsonElement vocab, string path)
    {
        if (vocab.ValueKind != JsonValueKind.Object)
            throw Bad(path, "the vocabulary is not an object of token → id");
        var result = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var entry in vocab.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.Number || !entry.Value.TryGetInt32(out var id) || id < 0)
                throw Bad(path, $"vocabulary entry \"{entry.Name}\" has no valid id");
            result[entry.Name] = id;
        }
        return result;
    }

    private static IEnumerable<string> ReadLines(string path)
    {
        var length = new FileInfo(path).Length;
        if (length > MaxJsonBytes)
            throw Bad(path, $"{length} bytes is too large");
        var text = File.ReadAllText(path, System.Text.Encoding.UTF8);
        var lines = text.Split('\n');
        var count = text.EndsWith('\n') ? lines.Length - 1 : lines.Length;
        for (var i = 0; i < count; i++)
            yield return lines[i].TrimEnd('\r');
    }

    private static JsonDocument ParseJson(string path)
    {
        var length = new FileInfo(path).Length;
        if (length > MaxJsonBytes)
            throw Bad(path, $"{length} bytes is too large");
        try
        {
            return JsonDocument.Parse(File.ReadAllBytes(path), new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException e)
        {
            throw Bad(path, $"not valid JSON: {e.Message}");
        }
    }

    private static int Id(Dictionary<string, int> vocab, string token, string path) =>
        vocab.TryGetValue(token, out var id) ? id : throw Bad(path, $"special token '{token}' is not in the vocabulary");

    private static JsonElement Get(JsonElement e, string name, string path) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) ? v : throw Bad(path, $"missing \"{name}\"");

    private static string? Str(JsonElement e, string name, string path) =>
        !e.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null ? null
        : v.ValueKind == JsonValueKind.String ? v.GetString() : throw Bad(path, $"\"{name}\" is not a string");

    private static int Int(JsonElement e, string name, string path) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i) ? i : throw Bad(path, $"\"{name}\" is not an integer");

    private static bool Bool(JsonElement e, string name) => BoolOr(e, name, false);

    private static bool BoolOr(JsonElement e, string name, bool fallback) =>
        e.TryGetProperty(name, out var v) && v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : fallback;

    private static TokenizerFormatException Bad(string path, string what) => new($"{path}: {what}.");
}

/// <summary>Settings from <c>tokenizer_config.json</c> / <c>special_tokens_map.json</c>.</summary>
internal sealed class TokenizerSettings
{
    internal Dictionary<string, JsonElement> Values { get; } = new(StringComparer.Ordinal);

    /// <summary>The tokenizer's length limit (<c>model_max_length</c>, else the model's positions, else 512).</summary>
    public int ModelMaxLength { get; set; } = 512;

    public string? PadToken => Special("pad_token");

    /// <summary>A special token given as a string or as an AddedToken object with <c>content</c>.</summary>
    public string? Special(string name) =>
        !Values.TryGetValue(name, out var v) ? null
        : v.ValueKind == JsonValueKind.String ? v.GetString()
        : v.ValueKind == JsonValueKind.Object && v.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString()
        : null;

    public bool? Bool(string name) =>
        Values.TryGetValue(name, out var v) && v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : null;
}
