using Nuansa.Models;

namespace Nuansa.Training;

/// <summary>
/// Draws the dropout masks of one training step from the seed and the step number alone, so that a run resumed
/// from a checkpoint draws exactly the masks the uninterrupted run would have.
/// </summary>
public static class DropoutMaskSampler
{
    /// <summary>The masks for <paramref name="step"/> (1-based) of a batch of <paramref name="rows"/> × <paramref name="length"/>.</summary>
    public static IReadOnlyList<(DropoutMask Mask, float[] Values, long[] Shape)> Sample(TrainingGraph graph, int seed, int step, int rows, int length)
    {
        var hidden = graph.Config.HiddenSize;
        var heads = graph.Config.NumAttentionHeads;
        var result = new List<(DropoutMask, float[], long[])>(graph.DropoutMasks.Count);
        for (var k = 0; k < graph.DropoutMasks.Count; k++)
        {
            var mask = graph.DropoutMasks[k];
            long[] shape = mask.Rank switch
            {
                2 => [rows, hidden],
                3 => [rows, length, hidden],
                _ => [rows, heads, length, length],
            };
            var values = new float[shape.Aggregate(1L, (a, b) => a * b)];
            // System.Random with an int seed is the same generator on every run and machine (HashCode is not).
            var random = new Random(unchecked(seed * 1_000_003 + step * 7_919 + k * 104_729));
            var keep = (float)(1 / (1 - mask.Probability));
            for (var i = 0; i < values.Length; i++)
                values[i] = random.NextDouble() >= mask.Probability ? keep : 0f;
            result.Add((mask, values, shape));
        }
        return result;
    }
}
