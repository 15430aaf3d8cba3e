using Nuansa.Models;

namespace Nuansa.Training;

/// <summary>
/// Draws the dropout masks of one training step from the seed and the step number alone, so that a run resumed
/// from a checkpoint draws exactly the masks the uninterrupted run would have.
/// </summary>
/// <remarks>
/// The generator is counter-based (SplitMix64 of a key and the element index): every element is a pure function
/// of (seed, step, mask, index), so a mask is filled in parallel chunks and comes out the same on every machine.
/// BERT-base at 16 × 128 needs 76 million mask elements a step; this fills them in tens of milliseconds.
/// </remarks>
internal static class DropoutMaskSampler
{
    private const int Chunk = 1 << 16;

    /// <summary>The shape of mask <paramref name="mask"/> for a batch of <paramref name="rows"/> × <paramref name="length"/>.</summary>
    public static long[] Shape(DropoutMask mask, int rows, int length) =>
    [
        .. mask.Shape.Select(d => d.Size ?? d.Symbol switch
        {
            "batch" => rows,
            "sequence" => length,
            _ => throw new InvalidOperationException($"Dropout mask '{mask.Name}' has a dimension '{d}' the trainer cannot size."),
        }),
    ];

    /// <summary>The masks for <paramref name="step"/> (1-based) of a batch of <paramref name="rows"/> × <paramref name="length"/>, in new arrays.</summary>
    public static IReadOnlyList<(DropoutMask Mask, bool[] Keep, long[] Shape)> Sample(TrainingGraph graph, int seed, int step, int rows, int length)
    {
        var result = new List<(DropoutMask, bool[], long[])>(graph.DropoutMasks.Count);
        for (var k = 0; k < graph.DropoutMasks.Count; k++)
        {
            var mask = graph.DropoutMasks[k];
            var shape = Shape(mask, rows, length);
            var values = new bool[shape.Aggregate(1L, (a, b) => a * b)];
            Fill(values, mask.Probability, seed, step, k);
            result.Add((mask, values, shape));
        }
        return result;
    }

    /// <summary>
    /// Fills <paramref name="keep"/> with mask number <paramref name="index"/> of <paramref name="step"/>: each element is
    /// kept (true) with probability 1 − p.
    /// </summary>
    public static void Fill(bool[] keep, double probability, int seed, int step, int index) =>
        Fill(keep.AsMemory(), probability, seed, step, index);

    /// <inheritdoc cref="Fill(bool[], double, int, int, int)"/>
    public static void Fill(Memory<bool> keep, double probability, int seed, int step, int index)
    {
        if (probability is < 0 or >= 1)
            throw new ArgumentOutOfRangeException(nameof(probability), probability, "Dropout probability must be in [0, 1).");
        var key = Mix((ulong)(uint)seed << 32 | (uint)step) ^ Mix(0x5851F42D4C957F2DUL + (ulong)(uint)index);
        // An element is dropped when its 32-bit uniform falls below p · 2³².
        var threshold = (ulong)Math.Round(probability * 4294967296.0);
        var chunks = (keep.Length + Chunk - 1) / Chunk;
        Parallel.For(0, chunks, c =>
        {
            var span = keep.Span;
            var end = Math.Min(span.Length, (c + 1) * Chunk);
            // Chunks start at even indices, so each 64-bit draw covers the same two elements whatever the chunking.
            for (var i = c * Chunk; i < end; i += 2)
            {
                var bits = Mix(key + (ulong)(i >> 1) * 0x9E3779B97F4A7C15UL);
                span[i] = (bits & 0xFFFFFFFFUL) >= threshold;
                if (i + 1 < end)
                    span[i + 1] = (bits >> 32) >= threshold;
            }
        });
    }

    // SplitMix64's finalizer: a bijective mix whose outputs pass BigCrush for consecutive inputs.
    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
