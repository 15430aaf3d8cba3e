using System.Diagnostics;
using Nuansa.Tokenization;

namespace Nuansa.Tests.Tokenization;

/// <summary>No input costs more than its size: BPE merging against the plain quadratic rule, and long words on every family.</summary>
public class LongInputTests
{
    [Fact]
    public void PriorityQueueMergingEqualsLowestRankLeftmostFirst()
    {
        // Random words over a small alphabet, with merges that overlap and chain (and two routes to the same piece),
        // against the definition: repeatedly merge the adjacent pair of lowest rank, leftmost on ties.
        var random = new Random(11);
        var alphabet = "abcd";
        var vocab = alphabet.Select(c => c.ToString()).ToList();
        var merges = new List<(string, string)>();
        for (var i = 0; i < 40; i++)
        {
            var left = vocab[random.Next(vocab.Count)];
            var right = vocab[random.Next(Math.Min(vocab.Count, 8))];
            if (merges.Contains((left, right)) || (left + right).Length > 6)
                continue;
            merges.Add((left, right));
            if (!vocab.Contains(left + right))
                vocab.Add(left + right);
        }
        var model = new BpeModel(vocab.Select((v, i) => (v, i)).ToDictionary(p => p.v, p => p.i), merges, null);
        for (var trial = 0; trial < 500; trial++)
        {
            var word = new string([.. Enumerable.Range(0, random.Next(1, 40)).Select(_ => alphabet[random.Next(alphabet.Length)])]);
            var tokens = new List<Token>();
            model.Tokenize(NormalizedText.FromRunes([.. word.Select(c => (int)c)], 0, word.Length), tokens);
            Assert.Equal(Reference(word, merges), tokens.Select(t => t.Value));
            Assert.Equal(word, string.Concat(tokens.Select(t => word[t.Start..t.End])));
        }
    }

    private static List<string> Reference(string word, List<(string, string)> merges)
    {
        var symbols = word.Select(c => c.ToString()).ToList();
        while (true)
        {
            var best = -1;
            var bestRank = int.MaxValue;
            for (var i = 0; i + 1 < symbols.Count; i++)
            {
                var rank = merges.IndexOf((symbols[i], symbols[i + 1]));
                if (rank >= 0 && rank < bestRank)
                    (best, bestRank) = (i, rank);
            }
            if (best < 0)
                return symbols;
            symbols[best] += symbols[best + 1];
            symbols.RemoveAt(best + 1);
        }
    }

    [Theory]
    [InlineData("bert-2label")]
    [InlineData("roberta-2label")]
    [InlineData("xlmr-3label")]
    public void A32kCharacterWordCostsLittle(string model)
    {
        // A guard against quadratic work, not a benchmark (bench/ measures: a few milliseconds on every family);
        // byte-level BPE took 11.6 s on this word before merging went through a priority queue.
        var tokenizer = Tokenizer.Load(SharedFiles.Model(model));
        var random = new Random(3);
        var word = new string([.. Enumerable.Range(0, 32768).Select(_ => "etaoinshrdlucmfw"[random.Next(16)])]);
        var options = new EncodeOptions { Truncation = TruncationStrategy.DoNotTruncate };
        tokenizer.Encode("warm up", null, options);
        var clock = Stopwatch.StartNew();
        var encoding = tokenizer.Encode(word, null, options);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"{model}: {clock.Elapsed.TotalSeconds:F2} s for one 32k-character word");
        Assert.True(encoding.Length > 2);
    }
}
