namespace Nuansa.Tokenization;

/// <summary>The model inputs for one text or text pair, as HF's <c>BatchEncoding</c> holds them for one row.</summary>
public sealed class Encoding
{
    public Encoding(int[] ids, int[] typeIds, string[] tokens, (int Start, int End)[] offsets, bool[] specialTokensMask, int[] attentionMask)
    {
        Ids = ids;
        TypeIds = typeIds;
        Tokens = tokens;
        Offsets = offsets;
        SpecialTokensMask = specialTokensMask;
        AttentionMask = attentionMask;
    }

    public int[] Ids { get; }

    /// <summary>Segment ids: 0 for the first text (context) and its special tokens, 1 for the second where the model uses them.</summary>
    public int[] TypeIds { get; }
    public string[] Tokens { get; }

    /// <summary>Character offsets (Unicode code points) of each token in its own input text; (0, 0) for special and padding tokens.</summary>
    public (int Start, int End)[] Offsets { get; }
    public bool[] SpecialTokensMask { get; }
    public int[] AttentionMask { get; }
    public int Length => Ids.Length;

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
