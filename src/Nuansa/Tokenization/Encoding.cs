namespace Nuansa.Tokenization;

/// <summary>The model inputs for one text or text pair, as HF's <c>BatchEncoding</c> holds them for one row.</summary>
public sealed class Encoding
{
    /// <summary>An encoding from its parallel arrays (one element per token each).</summary>
    public Encoding(int[] ids, int[] typeIds, string[] tokens, (int Start, int End)[] offsets, bool[] specialTokensMask, int[] attentionMask)
    {
        Ids = ids;
        TypeIds = typeIds;
        Tokens = tokens;
        Offsets = offsets;
        SpecialTokensMask = specialTokensMask;
        AttentionMask = attentionMask;
    }

    /// <summary>Token ids (HF's <c>input_ids</c>).</summary>
    public int[] Ids { get; }

    /// <summary>Segment ids: 0 for the first text (context) and its special tokens, 1 for the second where the model uses them.</summary>
    public int[] TypeIds { get; }

    /// <summary>Token strings, as the vocabulary spells them.</summary>
    public string[] Tokens { get; }

    /// <summary>Character offsets (Unicode code points) of each token in its own input text; (0, 0) for special and padding tokens.</summary>
    public (int Start, int End)[] Offsets { get; }

    /// <summary>True for special tokens ([CLS], [SEP], &lt;s&gt;, padding...), as HF's <c>special_tokens_mask</c>.</summary>
    public bool[] SpecialTokensMask { get; }

    /// <summary>1 for real tokens, 0 for padding (HF's <c>attention_mask</c>).</summary>
    public int[] AttentionMask { get; }

    /// <summary>Number of tokens, special and padding tokens included.</summary>
    public int Length => Ids.Length;

    /// <summary>A batch as the model's int64 inputs, right-padded to its longest encoding with <paramref name="padId"/> (mask 0).</summary>
    public static (long[] Ids, long[] AttentionMask, long[] TypeIds, int Length) Pack(IReadOnlyList<Encoding> batch, int padId)
    {
        var length = batch.Max(e => e.Length);
        var ids = new long[batch.Count * length];
        var mask = new long[ids.Length];
        var types = new long[ids.Length];
        Array.Fill(ids, padId);
        for (var b = 0; b < batch.Count; b++)
        {
            var e = batch[b];
            for (var t = 0; t < e.Length; t++)
            {
                ids[b * length + t] = e.Ids[t];
                mask[b * length + t] = e.AttentionMask[t];
                types[b * length + t] = e.TypeIds[t];
            }
        }
        return (ids, mask, types, length);
    }

    /// <summary>A copy right-padded to <paramref name="length"/> with the pad token (attention mask 0).</summary>
    public Encoding PadTo(int length, int padId, string padToken)
    {
        if (length <= Length)
            return this;
        var extra = length - Length;
        return new Encoding(
            [.. Ids, .. Enumerable.Repeat(padId, extra)],
            [.. TypeIds, .. new int[extra]],
            [.. Tokens, .. Enumerable.Repeat(padToken, extra)],
            [.. Offsets, .. new (int, int)[extra]],
            [.. SpecialTokensMask, .. Enumerable.Repeat(true, extra)],
            [.. AttentionMask, .. new int[extra]]);
    }
}
