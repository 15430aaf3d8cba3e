namespace Nuansa.Tokenization;

/// <summary>One token: its vocabulary id, its string, and its character offsets in the original text.</summary>
public readonly record struct Token(int Id, string Value, int Start, int End);

/// <summary>Turns one pre-tokenized word into vocabulary tokens (HF <c>models</c>).</summary>
internal interface ITokenizerModel
{
    void Tokenize(NormalizedText word, List<Token> output);

    int? TokenToId(string token);

    string? IdToToken(int id);

    int VocabularySize { get; }
}

/// <summary>HF's <c>WordPiece</c>: greedy longest-match-first with a continuation prefix; an unmatched word is one unknown token.</summary>
internal sealed class WordPieceModel : ITokenizerModel
{
    private readonly Dictionary<string, int> _vocab;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    private readonly string[] _byId;
    private readonly int _unkId;

    public WordPieceModel(IReadOnlyDictionary<string, int> vocab, string unkToken, string continuingSubwordPrefix = "##", int maxInputCharsPerWord = 100)
    {
        _vocab = new Dictionary<string, int>(vocab, StringComparer.Ordinal);
        _byId = Vocabulary.ById(vocab);
        UnkToken = unkToken;
        _unkId = _vocab.TryGetValue(unkToken, out var unk) ? unk
            : throw new TokenizerFormatException($"The WordPiece vocabulary has no unknown token '{unkToken}'.");
        ContinuingSubwordPrefix = continuingSubwordPrefix;
        MaxInputCharsPerWord = maxInputCharsPerWord;
        _lookup = _vocab.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public string UnkToken { get; }
    public string ContinuingSubwordPrefix { get; }
    public int MaxInputCharsPerWord { get; }
    public int VocabularySize => _byId.Length;

    public int? TokenToId(string token) => _vocab.TryGetValue(token, out var id) ? id : null;

    public string? IdToToken(int id) => id >= 0 && id < _byId.Length ? _byId[id] : null;

    public void Tokenize(NormalizedText word, List<Token> output)
    {
        var (wordStart, wordEnd) = word.Offsets(0, word.Length);
        if (word.Length > MaxInputCharsPerWord)
        {
            output.Add(new Token(_unkId, UnkToken, wordStart, wordEnd));
            return;
        }
        // Candidates are looked up as spans (no string per attempt); a match hands back the vocabulary's own string.
        var prefix = ContinuingSubwordPrefix.Length;
        var size = prefix + 2 * word.Length;
        Span<char> chars = size <= 512 ? stackalloc char[size] : new char[size];
        Span<int> charEnd = word.Length < 256 ? stackalloc int[word.Length + 1] : new int[word.Length + 1];
        ContinuingSubwordPrefix.CopyTo(chars);
        // The word's text after the prefix, with each rune's end as a char index (surrogate pairs take two).
        for (var i = 0; i < word.Length; i++)
            charEnd[i + 1] = charEnd[i] + word.CopyTo(i, i + 1, chars[(prefix + charEnd[i])..]);
        Span<char> candidate = size <= 512 ? stackalloc char[size] : new char[size];
        var mark = output.Count;
        var start = 0;
        while (start < word.Length)
        {
            var lead = start > 0 ? prefix : 0;
            ContinuingSubwordPrefix.AsSpan(0, lead).CopyTo(candidate);
            chars[(prefix + charEnd[start])..(prefix + charEnd[word.Length])].CopyTo(candidate[lead..]);
            var end = word.Length;
            string? piece = null;
            var id = 0;
            while (start < end && !_lookup.TryGetValue(candidate[..(lead + charEnd[end] - charEnd[start])], out piece, out id))
                end--;
            if (piece == null || start == end)
            {
                output.RemoveRange(mark, output.Count - mark);
                output.Add(new Token(_unkId, UnkToken, wordStart, wordEnd));
                return;
            }
            var (s, e) = word.Offsets(start, end);
            output.Add(new Token(id, piece, s, e));
            start = end;
        }
    }
}

/// <summary>
/// HF's <c>BPE</c> (byte-level for RoBERTa): merge adjacent symbols by merge rank, lowest rank and leftmost first.
/// As HF's Rust core does it: symbols are vocabulary ids in a linked list and candidate merges wait in a priority
/// queue, so a word of n characters costs O(n log n), not O(n²).
/// </summary>
internal sealed class BpeModel : ITokenizerModel
{
    /// <summary>Words at least this long are not cached (HF's <c>MAX_LENGTH</c>): a long word would pin its memory.</summary>
    public const int MaxCachedWordLength = 256;

    private const int CacheCapacity = 100_000;
    private readonly Dictionary<string, int> _vocab;
    private readonly string[] _byId;
    private readonly Dictionary<long, (int Rank, int NewId)> _merges;   // (left id << 32 | right id) → rank, merged id
    private readonly int? _unkId;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, (int Id, int Start, int End)[]> _cache = new(StringComparer.Ordinal);

    public BpeModel(IReadOnlyDictionary<string, int> vocab, IReadOnlyList<(string Left, string Right)> merges, string? unkToken)
    {
        _vocab = new Dictionary<string, int>(vocab, StringComparer.Ordinal);
        _byId = Vocabulary.ById(vocab);
        _merges = new Dictionary<long, (int, int)>(merges.Count);
        for (var i = 0; i < merges.Count; i++)
        {
            var (left, right) = merges[i];
            // HF refuses merges whose parts or result are not in the vocabulary; such a merge could never apply here.
            if (_vocab.TryGetValue(left, out var l) && _vocab.TryGetValue(right, out var r) && _vocab.TryGetValue(left + right, out var merged))
                _merges.TryAdd(Key(l, r), (i, merged));
        }
        if (unkToken != null)
            _unkId = _vocab.TryGetValue(unkToken, out var unk) ? unk : null;
        UnkToken = unkToken;
    }

    public string? UnkToken { get; }
    public int VocabularySize => _byId.Length;

    public int? TokenToId(string token) => _vocab.TryGetValue(token, out var id) ? id : null;

    public string? IdToToken(int id) => id >= 0 && id < _byId.Length ? _byId[id] : null;

    public void Tokenize(NormalizedText word, List<Token> output)
    {
        if (word.Length == 0)
            return;
        (int Id, int Start, int End)[] pieces;
        if (word.Length >= MaxCachedWordLength)
        {
            pieces = Merge(word);
        }
        else
        {
            var text = word.ToString();
            // Lock-free reads: with several threads encoding, a lock taken per word would serialize them.
            if (!_cache.TryGetValue(text, out pieces!))
            {
                pieces = Merge(word);
                if (_cache.Count > CacheCapacity)
                    _cache.Clear();
                _cache[text] = pieces;
            }
        }
        foreach (var (id, start, end) in pieces)
        {
            var (s, e) = word.Offsets(start, end);
            if (id >= 0)
                output.Add(new Token(id, _byId[id], s, e));
            else if (_unkId is { } unk)
                output.Add(new Token(unk, UnkToken!, s, e));
            // With no unknown token, HF drops symbols missing from the vocabulary.
        }
    }

    private static long Key(int left, int right) => ((long)left << 32) | (uint)right;

    private (int Id, int Start, int End)[] Merge(NormalizedText word)
    {
        var n = word.Length;
        // Symbol i covers characters [start[i], end[i]); ids are -1 for characters outside the vocabulary (never merged).
        var ids = new int[n];
        var starts = new int[n];
        var ends = new int[n];
        var previous = new int[n];
        var next = new int[n];
        var lookup = _vocab.GetAlternateLookup<ReadOnlySpan<char>>();
        Span<char> chars = stackalloc char[2];
        for (var i = 0; i < n; i++)
        {
            var length = new System.Text.Rune(word[i]).EncodeToUtf16(chars);
            ids[i] = lookup.TryGetValue(chars[..length], out var id) ? id : -1;
            (starts[i], ends[i], previous[i], next[i]) = (i, i + 1, i - 1, i + 1 < n ? i + 1 : -1);
        }
        // Lowest rank first, then leftmost, as HF orders its merge queue.
        var queue = new PriorityQueue<(int Position, int NewId), long>();
        void Consider(int position)
        {
            var right = next[position];
            if (right >= 0 && ids[position] >= 0 && ids[right] >= 0 && _merges.TryGetValue(Key(ids[position], ids[right]), out var merge))
                queue.Enqueue((position, merge.NewId), ((long)merge.Rank << 32) | (uint)position);
        }
        for (var i = 0; i + 1 < n; i++)
            Consider(i);
        while (queue.TryDequeue(out var top, out _))
        {
            var position = top.Position;
            var right = next[position];
            // Skip entries made stale by an earlier merge: the symbol was absorbed, or its right neighbour changed.
            if (ends[position] == starts[position] || right < 0
                || ids[position] < 0 || ids[right] < 0
                || !_merges.TryGetValue(Key(ids[position], ids[right]), out var merge) || merge.NewId != top.NewId)
            {
                continue;
            }
            ids[position] = merge.NewId;
            ends[position] = ends[right];
            ends[right] = starts[right];   // absorbed: empty
            next[position] = next[right];
            if (next[right] >= 0)
                previous[next[right]] = position;
            if (previous[position] >= 0)
                Consider(previous[position]);
            Consider(position);
        }
        var result = new List<(int, int, int)>();
        for (var i = 0; i >= 0; i = next[i])
            result.Add((ids[i], starts[i], ends[i]));
        return [.. result];
    }
}

/// <summary>
/// HF's <c>Unigram</c> (SentencePiece): the segmentation with the highest total log-probability (Viterbi);
/// a character no piece covers becomes the unknown token, scored <c>min score − 10</c>, and runs of unknowns fuse into one.
/// </summary>
internal sealed class UnigramModel : ITokenizerModel
{
    private const double UnknownPenalty = 10.0;
    private readonly Dictionary<string, int> _vocab;
    private readonly (string Piece, double Score)[] _pieces;
    private readonly Dictionary<long, int> _trie = [];      // (node << 21 | code point) → child node
    private readonly List<int> _nodePiece = [-1];           // node → piece id ending there, or -1
    private readonly double _unkScore;

    public UnigramModel(IReadOnlyList<(string Piece, double Score)> pieces, int unkId)
    {
        _pieces = [.. pieces];
        _vocab = new Dictionary<string, int>(_pieces.Length, StringComparer.Ordinal);
        for (var i = 0; i < _pieces.Length; i++)
            _vocab.TryAdd(_pieces[i].Piece, i);
        if (unkId < 0 || unkId >= _pieces.Length)
            throw new TokenizerFormatException($"The Unigram model's unk_id {unkId} is outside its {_pieces.Length}-piece vocabulary.");
        UnkId = unkId;
        for (var id = 0; id < _pieces.Length; id++)
        {
            var node = 0;
            foreach (var rune in UnicodeClasses.Runes(_pieces[id].Piece))
            {
                var key = ((long)node << 21) | (uint)rune;
                if (!_trie.TryGetValue(key, out var child))
                {
                    child = _nodePiece.Count;
                    _nodePiece.Add(-1);
                    _trie[key] = child;
                }
                node = child;
            }
            if (_nodePiece[node] < 0)
                _nodePiece[node] = id;
        }
        _unkScore = _pieces.Min(p => p.Score) - UnknownPenalty;
    }

    public int UnkId { get; }
    public int VocabularySize => _pieces.Length;

    public int? TokenToId(string token) => _vocab.TryGetValue(token, out var id) ? id : null;

    public string? IdToToken(int id) => id >= 0 && id < _pieces.Length ? _pieces[id].Piece : null;

    public void Tokenize(NormalizedText word, List<Token> output)
    {
        var n = word.Length;
        if (n == 0)
            return;
        // Words are short: the Viterbi lattice lives on the stack unless a word is long (no allocation per word).
        var small = n < 256;
        Span<double> bestScore = small ? stackalloc double[n + 1] : new double[n + 1];
        Span<int> bestStart = small ? stackalloc int[n + 1] : new int[n + 1];
        Span<int> bestId = small ? stackalloc int[n + 1] : new int[n + 1];
        bestScore.Clear();
        bestStart.Fill(-1);
        for (var start = 0; start < n; start++)
        {
            if (start > 0 && bestStart[start] < 0)
                continue;
            var scoreHere = bestScore[start];
            var singleCovered = false;
            var node = 0;
            for (var end = start + 1; end <= n; end++)
            {
                if (!_trie.TryGetValue(((long)node << 21) | (uint)word[end - 1], out node))
                    break;
                var id = _nodePiece[node];
                if (id < 0)
                    continue;
                var candidate = scoreHere + _pieces[id].Score;
                if (bestStart[end] < 0 || candidate > bestScore[end])
                {
                    bestScore[end] = candidate;
                    bestStart[end] = start;
                    bestId[end] = id;
                }
                if (end == start + 1)
                    singleCovered = true;
            }
            if (!singleCovered)
            {
                var candidate = scoreHere + _unkScore;
                if (bestStart[start + 1] < 0 || candidate > bestScore[start + 1])
                {
                    bestScore[start + 1] = candidate;
                    bestStart[start + 1] = start;
                    bestId[start + 1] = UnkId;
                }
            }
        }

        // The best path, read backwards from the end: piece ends, stored from the back of a buffer.
        Span<int> ends = small ? stackalloc int[n] : new int[n];
        var count = 0;
        for (var end = n; end > 0; end = bestStart[end])
            ends[n - ++count] = end;
        ends = ends[(n - count)..];
        for (var i = 0; i < ends.Length; i++)
        {
            var end = ends[i];
            var start = bestStart[end];
            var id = bestId[end];
            while (id == UnkId && i + 1 < ends.Length && bestId[ends[i + 1]] == UnkId)
                end = ends[++i];
            var (s, e) = word.Offsets(start, end);
            // A matched piece is the text it covers; for unknown runs HF keeps the text, not "<unk>", as the token string.
            output.Add(new Token(id, id == UnkId ? word.ToString(start, end) : _pieces[id].Piece, s, e));
        }
    }
}

internal static class Vocabulary
{
    public static string[] ById(IReadOnlyDictionary<string, int> vocab)
    {
        var size = vocab.Count == 0 ? 0 : vocab.Values.Max() + 1;
        if (size > 10_000_000)
            throw new TokenizerFormatException($"The vocabulary has an id of {size - 1}, beyond any real vocabulary.");
        var byId = new string[size];
        foreach (var (token, id) in vocab)
        {
            if (id < 0)
                throw new TokenizerFormatException($"Vocabulary token '{token}' has a negative id.");
            byId[id] = token;
        }
        return byId;
    }
}
