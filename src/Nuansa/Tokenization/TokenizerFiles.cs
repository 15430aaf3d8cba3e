using System.Text.Json;

namespace Nuansa.Tokenization;

/// <summary>
/// The tokenizer files of a checkpoint folder, one list for every place that fetches or copies them (the Hub, training
/// output, exports), and the <c>tokenizer.json</c> a WordPiece <c>vocab.txt</c> stands for.
/// </summary>
public static class TokenizerFiles
{
    /// <summary>Every tokenizer file Nuansa reads, in HF's names.</summary>
    public static IReadOnlyList<string> Names { get; } =
    [
        "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
        "vocab.txt", "vocab.json", "merges.txt", "sentencepiece.bpe.model",
    ];

    /// <summary>
    /// Copies the tokenizer files of <paramref name="source"/> into <paramref name="target"/>, and writes the
    /// <c>tokenizer.json</c> a WordPiece <c>vocab.txt</c> (with its <c>tokenizer_config.json</c>) stands for when the
    /// source has none — as HF's <c>BertTokenizerFast.save_pretrained</c> would — so runtimes that read only
    /// <c>tokenizer.json</c> (transformers.js, TEI, HF's Rust tokenizers) load the folder too.
    /// </summary>
    internal static void CopyTo(string source, string target)
    {
        foreach (var name in Names.Where(n => File.Exists(Path.Combine(source, n))))
            File.Copy(Path.Combine(source, name), Path.Combine(target, name));
        if (!File.Exists(Path.Combine(target, "tokenizer.json")) && File.Exists(Path.Combine(source, "vocab.txt")))
            File.WriteAllText(Path.Combine(target, "tokenizer.json"), WordPieceJson(source));
    }

    /// <summary>HF's <c>tokenizer.json</c> for a folder's WordPiece <c>vocab.txt</c>: BertNormalizer, BertPreTokenizer, WordPiece, <c>[CLS] A [SEP] (B [SEP])</c>.</summary>
    internal static string WordPieceJson(string folder)
    {
        var settings = TokenizerLoader.Settings(folder);
        var ids = new Dictionary<string, int>(StringComparer.Ordinal);
        var index = 0;
        foreach (var line in File.ReadLines(Path.Combine(folder, "vocab.txt")))
            ids.TryAdd(line.TrimEnd('\r'), index++);
        string unk = settings.Special("unk_token") ?? "[UNK]", cls = settings.Special("cls_token") ?? "[CLS]", sep = settings.Special("sep_token") ?? "[SEP]",
            pad = settings.PadToken ?? "[PAD]", mask = settings.Special("mask_token") ?? "[MASK]";
        object Special(string token) => new { id = ids[token], content = token, single_word = false, lstrip = false, rstrip = false, normalized = false, special = true };
        static object Piece(bool special, string id, int type) => special
            ? new Dictionary<string, object> { ["SpecialToken"] = new { id, type_id = type } }
            : new Dictionary<string, object> { ["Sequence"] = new { id, type_id = type } };
        var json = new Dictionary<string, object?>
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = new[] { pad, unk, cls, sep, mask }.Where(ids.ContainsKey).OrderBy(t => ids[t]).Select(Special).ToArray(),
            ["normalizer"] = new
            {
                type = "BertNormalizer", clean_text = true, handle_chinese_chars = settings.Bool("tokenize_chinese_chars") ?? true,
                strip_accents = settings.Bool("strip_accents"), lowercase = settings.Bool("do_lower_case") ?? true,
            },
            ["pre_tokenizer"] = new { type = "BertPreTokenizer" },
            ["post_processor"] = new
            {
                type = "TemplateProcessing",
                single = new[] { Piece(true, cls, 0), Piece(false, "A", 0), Piece(true, sep, 0) },
                pair = new[] { Piece(true, cls, 0), Piece(false, "A", 0), Piece(true, sep, 0), Piece(false, "B", 1), Piece(true, sep, 1) },
                special_tokens = new Dictionary<string, object>
                {
                    [cls] = new { id = cls, ids = new[] { ids[cls] }, tokens = new[] { cls } },
                    [sep] = new { id = sep, ids = new[] { ids[sep] }, tokens = new[] { sep } },
                },
            },
            ["decoder"] = new { type = "WordPiece", prefix = "##", cleanup = true },
            ["model"] = new { type = "WordPiece", unk_token = unk, continuing_subword_prefix = "##", max_input_chars_per_word = 100, vocab = ids },
        };
        return JsonSerializer.Serialize(json);
    }
}
