namespace Nuansa.Tokenization;

/// <summary>How an over-long input is cut, with HF's names.</summary>
public enum TruncationStrategy
{
    /// <summary>Cut the longer segment first, token by token (HF's default for <c>truncation=True</c>).</summary>
    LongestFirst,

    /// <summary>Cut only the first text (the context of a pair).</summary>
    OnlyFirst,

    /// <summary>Cut only the second text.</summary>
    OnlySecond,

    /// <summary>Never cut.</summary>
    DoNotTruncate,
}

/// <summary>Which end of a text loses its tokens when it is cut: the end (right, HF's default) or the start (left).</summary>
public enum TruncationSide
{
    /// <summary>Tokens are cut from the end (HF's default).</summary>
    Right,

    /// <summary>Tokens are cut from the start (the text's end is kept).</summary>
    Left,
}

/// <summary>How a batch is padded.</summary>
public enum PaddingStrategy
{
    /// <summary>Every encoding keeps its own length.</summary>
    DoNotPad,

    /// <summary>Pad to the longest encoding in the batch.</summary>
    Longest,

    /// <summary>Pad to the maximum length.</summary>
    MaxLength,
}

/// <summary>Options of one encode call; defaults cut inputs to the model's limit with HF's <c>longest_first</c>.</summary>
public sealed record EncodeOptions
{
    /// <summary>Add the model's special tokens ([CLS] ... [SEP], &lt;s&gt; ... &lt;/s&gt;), as HF's <c>add_special_tokens</c>.</summary>
    public bool AddSpecialTokens { get; init; } = true;

    /// <summary>How an input over <see cref="MaxLength"/> is cut (HF's <c>truncation</c> strategies).</summary>
    public TruncationStrategy Truncation { get; init; } = TruncationStrategy.LongestFirst;

    /// <summary>Which end of a text truncation cuts (HF's <c>truncation_side</c>, TEI's <c>truncation_direction</c>).</summary>
    public TruncationSide TruncationSide { get; init; } = TruncationSide.Right;

    /// <summary>Length limit including special tokens; null means the model's limit (<see cref="Tokenizer.ModelMaxLength"/>).</summary>
    public int? MaxLength { get; init; }

    /// <summary>How the encodings of a batch are padded (HF's <c>padding</c>).</summary>
    public PaddingStrategy Padding { get; init; } = PaddingStrategy.DoNotPad;

    /// <summary>Special tokens added, <c>longest_first</c> truncation to the model's limit, no padding.</summary>
    public static EncodeOptions Default { get; } = new();
}

/// <summary>
/// A Hugging Face tokenizer: added tokens → normalizer → pre-tokenizer → model → truncation →
/// post-processor (special tokens, token types) → padding. Thread-safe once built.
/// </summary>
public sealed class Tokenizer
{
    private readonly AddedTokenSplitter _added;
    private readonly Dictionary<string, int> _addedIds;
    private readonly Dictionary<int, string> _addedTokens;

    internal Tokenizer(INormalizer? normalizer, IPreTokenizer? preTokenizer, ITokenizerModel model, TemplateProcessor? postProcessor,
        IReadOnlyList<AddedToken> addedTokens, string padToken, int modelMaxLength)
    {
        Normalizer = normalizer;
        PreTokenizer = preTokenizer;
        Model = model;
        PostProcessor = postProcessor;
        AddedTokens = addedTokens;
        _added = new AddedTokenSplitter(addedTokens);
        _addedIds = addedTokens.GroupBy(t => t.Content).ToDictionary(g => g.Key, g => g.First().Id, StringComparer.Ordinal);
        _addedTokens = addedTokens.GroupBy(t => t.Id).ToDictionary(g => g.Key, g => g.First().Content);
        PadToken = padToken;
        PadTokenId = TokenToId(padToken) ?? throw new TokenizerFormatException($"The pad token '{padToken}' is not in the vocabulary.");
        ModelMaxLength = modelMaxLength > 0 ? modelMaxLength : throw new TokenizerFormatException("model_max_length must be positive.");
    }

    internal INormalizer? Normalizer { get; }
    internal IPreTokenizer? PreTokenizer { get; }
    internal ITokenizerModel Model { get; }
    internal TemplateProcessor? PostProcessor { get; }

    /// <summary>Tokens added on top of the model's vocabulary (special tokens among them), as tokenizer.json's <c>added_tokens</c>.</summary>
    public IReadOnlyList<AddedToken> AddedTokens { get; }

    /// <summary>The padding token's string.</summary>
    public string PadToken { get; }

    /// <summary>The padding token's id.</summary>
    public int PadTokenId { get; }

    /// <summary>The longest input the model accepts, special tokens included.</summary>
    public int ModelMaxLength { get; }

    /// <summary>Number of ids, added tokens included (HF's <c>len(tokenizer)</c>).</summary>
    public int VocabularySize => Math.Max(Model.VocabularySize, _addedTokens.Count == 0 ? 0 : _addedTokens.Keys.Max() + 1);

    /// <summary>Reads the tokenizer of a checkpoint folder (see <see cref="TokenizerLoader"/>).</summary>
    public static Tokenizer Load(string directory) => TokenizerLoader.Load(directory);

    /// <summary>The id of a token string; null when it is not in the vocabulary.</summary>
    public int? TokenToId(string token) => _addedIds.TryGetValue(token, out var id) ? id : Model.TokenToId(token);

    /// <summary>The token string of an id; null for an id outside the vocabulary.</summary>
    public string? IdToToken(int id) => _addedTokens.TryGetValue(id, out var token) ? token : Model.IdToToken(id);

    /// <summary>Encodes one text, or a pair (<paramref name="textPair"/> is the second segment: for Nuansa's
    /// context-conditioned models the text is the context and the pair is the sentence).</summary>
    public Encoding Encode(string text, string? textPair = null, EncodeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        options ??= EncodeOptions.Default;
        var first = Tokenize(text);
        var second = textPair == null ? null : Tokenize(textPair);
        var process = options.AddSpecialTokens && PostProcessor != null;
        var maxLength = options.MaxLength ?? ModelMaxLength;
        if (options.Truncation != TruncationStrategy.DoNotTruncate)
        {
            var added = process ? PostProcessor!.AddedTokens(second != null) : 0;
            if (maxLength < added)
                throw new TokenizationException($"max_length {maxLength} leaves no room: the special tokens alone take {added}.");
            Truncate(first, second, maxLength - added, options.Truncation, options.TruncationSide);
        }
        var encoding = process ? PostProcessor!.Apply(first, second) : Plain(first, second);
        return options.Padding == PaddingStrategy.MaxLength ? encoding.PadTo(maxLength, PadTokenId, PadToken) : encoding;
    }

    /// <summary>
    /// A text too long for one pass as overlapping windows, by the rule of HF's Rust <c>Encoding::truncate</c> (what
    /// fast tokenizers do for <c>return_overflowing_tokens=True, stride=N</c>): with B tokens of room for the text —
    /// <paramref name="maxLength"/> less the special tokens, less the whole first segment for a pair — window k holds
    /// the text's tokens [k·(B−N), k·(B−N)+B), stopping at the first window that reaches the end. For a pair only the
    /// second segment (the text of a context–text input) is windowed; the first is repeated whole in every window.
    /// Special tokens are added to each window.
    /// </summary>
    public IReadOnlyList<Encoding> EncodeWindows(string text, string? textPair, int maxLength, int stride) => EncodeWindows(text, textPair, maxLength, stride, int.MaxValue);

    /// <summary>
    /// As <see cref="EncodeWindows(string, string?, int, int)"/>, refusing (<see cref="InputTooLargeException"/>) an input that
    /// would make more than <paramref name="maxWindows"/> windows, counted before any window is built.
    /// </summary>
    public IReadOnlyList<Encoding> EncodeWindows(string text, string? textPair, int maxLength, int stride, int maxWindows)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentOutOfRangeException.ThrowIfNegative(stride);
        var first = Tokenize(text);
        var second = textPair == null ? null : Tokenize(textPair);
        var added = PostProcessor?.AddedTokens(second != null) ?? 0;
        var windowed = second ?? first;
        var room = maxLength - added - (second == null ? 0 : first.Count);
        if (room <= stride)
        {
            throw new TokenizationException(second == null
                ? $"max_length {maxLength} leaves {room} tokens per window after the special tokens; the stride ({stride}) must be smaller."
                : $"max_length {maxLength} leaves {room} tokens per window after the special tokens and the {first.Count}-token context; the stride ({stride}) must be smaller.");
        }
        var count = windowed.Count <= room ? 1 : 1 + (windowed.Count - room + (room - stride) - 1) / (room - stride);
        if (count > maxWindows)
            throw new InputTooLargeException($"The input's {windowed.Count} tokens make {count} windows of {maxLength} tokens with a stride of {stride}, more than the {Math.Max(0, maxWindows)} left.");
        var windows = new List<Encoding>(count);
        for (var start = 0; ; start += room - stride)
        {
            var slice = windowed.GetRange(start, Math.Min(room, windowed.Count - start));
            List<Token> a = second == null ? slice : [.. first];
            var b = second == null ? null : slice;
            windows.Add(PostProcessor != null ? PostProcessor.Apply(a, b) : Plain(a, b));
            if (start + room >= windowed.Count)
                return windows;
        }
    }

    /// <summary>Encodes a batch; with <see cref="PaddingStrategy.Longest"/> every row is padded to the longest.</summary>
    public IReadOnlyList<Encoding> EncodeBatch(IReadOnlyList<(string Text, string? TextPair)> inputs, EncodeOptions? options = null)
    {
        options ??= EncodeOptions.Default;
        if (inputs.Count == 0)
            return [];
        var encodings = new Encoding[inputs.Count];
        var failures = new System.Collections.Concurrent.ConcurrentBag<(int Index, TokenizationException Error)>();
        // Ranges of inputs per task: one task per text costs more than encoding a short text.
        var ranges = System.Collections.Concurrent.Partitioner.Create(0, inputs.Count, Math.Max(16, inputs.Count / (4 * Environment.ProcessorCount) + 1));
        Parallel.ForEach(ranges, range =>
        {
            for (var i = range.Item1; i < range.Item2; i++)
            {
                try
                {
                    encodings[i] = Encode(inputs[i].Text, inputs[i].TextPair, options);
                }
                catch (TokenizationException e)
                {
                    failures.Add((i, e));
                }
            }
        });
        if (!failures.IsEmpty)
        {
            var (index, error) = failures.MinBy(f => f.Index);
            throw new TokenizationException($"input {index + 1}: {error.Message}", index);
        }
        if (options.Padding == PaddingStrategy.Longest && encodings.Length > 0)
        {
            var longest = encodings.Max(e => e.Length);
            for (var i = 0; i < encodings.Length; i++)
                encodings[i] = encodings[i].PadTo(longest, PadTokenId, PadToken);
        }
        return encodings;
    }

    /// <summary>The tokens of one text without special tokens, truncation or padding.</summary>
    public List<Token> Tokenize(string text)
    {
        var runes = UnicodeClasses.Runes(text);
        var tokens = new List<Token>();
        foreach (var (start, end, added) in _added.Split(runes))
        {
            if (added != null)
            {
                // HF's token string is the matched text, including whitespace taken by lstrip/rstrip.
                tokens.Add(new Token(added.Id, NormalizedText.FromRunes(runes, start, end - start).ToString(), start, end));
                continue;
            }
            var piece = NormalizedText.FromRunes(runes, start, end - start);
            Normalizer?.Normalize(piece);
            var words = PreTokenizer?.PreTokenize([piece]) ?? [piece];
            foreach (var word in words)
                Model.Tokenize(word, tokens);
        }
        return tokens;
    }

    // HF tokenizers' truncate_encodings, with `limit` the room left after special tokens.
    private static void Truncate(List<Token> first, List<Token>? second, int limit, TruncationStrategy strategy, TruncationSide side)
    {
        // Keeps `keep` tokens of a segment, dropping the rest from the chosen end.
        void Keep(List<Token> tokens, int keep)
        {
            if (tokens.Count > keep)
                tokens.RemoveRange(side == TruncationSide.Right ? keep : 0, tokens.Count - keep);
        }

        var total = first.Count + (second?.Count ?? 0);
        if (total <= limit)
            return;
        var toRemove = total - limit;
        switch (strategy)
        {
            case TruncationStrategy.LongestFirst when second == null:
                Keep(first, limit);
                return;
            case TruncationStrategy.LongestFirst:
            {
                // The shorter segment keeps its length if it can; otherwise both get half, the odd token to the longer.
                int n1 = first.Count, n2 = second.Count;
                var swap = n1 > n2;
                if (swap)
                    (n1, n2) = (n2, n1);
                n2 = n1 > limit ? n1 : Math.Max(n1, limit - n1);
                if (n1 + n2 > limit)
                {
                    n1 = limit / 2;
                    n2 = n1 + limit % 2;
                }
                if (swap)
                    (n1, n2) = (n2, n1);
                Keep(first, n1);
                Keep(second, n2);
                return;
            }
            case TruncationStrategy.OnlyFirst:
            case TruncationStrategy.OnlySecond:
            {
                var target = strategy == TruncationStrategy.OnlyFirst ? first
                    : second ?? throw new TokenizationException("Truncation only_second needs a text pair.");
                if (target.Count <= toRemove)
                {
                    throw new TokenizationException(
                        $"Cannot truncate to the maximum length with {StrategyName(strategy)}: the {(strategy == TruncationStrategy.OnlyFirst ? "first" : "second")} " +
                        $"text has {target.Count} tokens but {toRemove} must go. Use longest_first or a larger max_length.");
                }
                Keep(target, target.Count - toRemove);
                return;
            }
        }
    }

    internal static string StrategyName(TruncationStrategy strategy) => strategy switch
    {
        TruncationStrategy.LongestFirst => "longest_first",
        TruncationStrategy.OnlyFirst => "only_first",
        TruncationStrategy.OnlySecond => "only_second",
        _ => "do_not_truncate",
    };

    private static Encoding Plain(List<Token> first, List<Token>? second)
    {
        var all = second == null ? first : [.. first, .. second];
        return new Encoding(
            [.. all.Select(t => t.Id)],
            [.. first.Select(_ => 0), .. (second ?? []).Select(_ => 1)],
            [.. all.Select(t => t.Value)],
            [.. all.Select(t => (t.Start, t.End))],
            new bool[all.Count],
            [.. Enumerable.Repeat(1, all.Count)]);
    }
}
