using System.Text.Json.Nodes;
using Nuansa.Data;
using Nuansa.Tests.Cli;

namespace Nuansa.Tests.Data;

/// <summary>EDA edits: what each may and may not change, determinism, and the augment command's balancing.</summary>
public class TextAugmentationTests
{
    private const string Text = "the service was slow and the staff rude";
    private static readonly Dictionary<string, string[]> Synonyms = new() { ["slow"] = ["sluggish"], ["rude"] = ["impolite", "discourteous"] };

    private static IReadOnlyList<string> Variants(AugmentOperations operations, int seed = 1) =>
        TextAugmentation.Variants(Text, 5, new AugmentOptions { Alpha = 0.25, Operations = operations, Synonyms = Synonyms }, new Random(seed));

    [Fact]
    public void SwapsKeepTheWordsAndDeletionsKeepTheOrder()
    {
        var words = Text.Split(' ');
        var swaps = Variants(AugmentOperations.Swap);
        Assert.NotEmpty(swaps);
        Assert.All(swaps, v => Assert.Equal(words.Order(), v.Split(' ').Order()));
        var deletions = Variants(AugmentOperations.Delete);
        Assert.NotEmpty(deletions);
        foreach (var v in deletions)
        {
            // A subsequence of the original words, shorter than it.
            var kept = v.Split(' ');
            Assert.True(kept.Length < words.Length);
            var at = 0;
            foreach (var w in kept)
                at = Array.IndexOf(words, w, at) + 1;
            Assert.True(at > 0);
        }
    }

    [Fact]
    public void SynonymEditsUseOnlyTheTable()
    {
        var replaced = Variants(AugmentOperations.Synonym);
        Assert.NotEmpty(replaced);
        var allowed = Text.Split(' ').Concat(Synonyms.Values.SelectMany(s => s)).ToHashSet();
        Assert.All(replaced, v => Assert.All(v.Split(' '), w => Assert.Contains(w, allowed)));
        Assert.All(replaced, v => Assert.Equal(Text.Split(' ').Length, v.Split(' ').Length));
        var inserted = Variants(AugmentOperations.Insert);
        Assert.NotEmpty(inserted);
        Assert.All(inserted, v => Assert.True(v.Split(' ').Length > Text.Split(' ').Length));
        Assert.All(inserted, v => Assert.All(v.Split(' '), w => Assert.Contains(w, allowed)));
        // Without a table, the synonym edits have nothing to do.
        Assert.Empty(TextAugmentation.Variants(Text, 3, new AugmentOptions { Operations = AugmentOperations.Synonym }, new Random(1)));
    }

    [Fact]
    public void VariantsAreDistinctNewAndSeeded()
    {
        var all = Variants(AugmentOperations.All);
        Assert.Equal(all.Count, all.Distinct().Count());
        Assert.DoesNotContain(Text, all);
        Assert.Equal(all, Variants(AugmentOperations.All));
        Assert.NotEqual(all, Variants(AugmentOperations.All, seed: 2));
        Assert.Empty(TextAugmentation.Variants("single", 3, new AugmentOptions { Operations = AugmentOperations.Swap | AugmentOperations.Delete }, new Random(1)));
    }

    [Fact]
    public void AugmentBalancesClassesAndMarksTheVariants()
    {
        using var dir = new TempDirectory();
        string[] lines = ["text\tlabel", "the food was really very good", "great place and nice staff", "lovely view from the room",
            "a fine meal with friends", "the service was slow and rude"];
        File.WriteAllLines(dir.File("data.tsv"), lines.Select((l, i) => i == 0 ? l : $"{l}\t{(i == 5 ? "negative" : "positive")}"));
        File.WriteAllText(dir.File("syn.tsv"), "slow\tsluggish\nrude\timpolite,discourteous\n");
        var (code, output, error) = CliRunner.Run("augment", "--input", dir.File("data.tsv"), "--output", dir.File("aug.jsonl"), "--balance",
            "--synonyms", dir.File("syn.tsv"), "--alpha", "0.2", "--copies", "5");
        Assert.True(code == 0, error);
        var rows = File.ReadAllLines(dir.File("aug.jsonl")).Select(l => JsonNode.Parse(l)!).ToArray();
        Assert.Equal(8, rows.Length); // 5 rows + 3 negatives: 4 positive, 4 negative
        Assert.Equal(4, rows.Count(r => r["label"]!.GetValue<string>() == "negative"));
        // The source is the 5th line of this output (the input rows come first, in order).
        Assert.All(rows.Skip(5), r => Assert.Equal(5, r["augmented_from"]!.GetValue<int>()));
        Assert.Equal("the service was slow and rude", rows[4]!["text"]!.GetValue<string>());
        Assert.Contains("negative: 3", output);

        (code, _, error) = CliRunner.Run("augment", "--input", dir.File("data.tsv"), "--output", dir.File("x.jsonl"), "--only-labels", "neutral");
        Assert.Equal(1, code);
        Assert.Contains("no row has label 'neutral'", error);
        Assert.False(File.Exists(dir.File("x.jsonl")));
    }

    [Fact]
    public void VariantsStayOnTheirSourcesSideOfTheSplit()
    {
        // 20 rows of two labels, each with two variants after them; half the rows held out.
        var empty = new Nuansa.Tokenization.Encoding([], [], [], [], [], []);
        var examples = new List<Nuansa.Training.Trainer.Example>();
        for (var i = 0; i < 20; i++)
            examples.Add(new(empty, [i % 2], null, i + 1));
        for (var i = 0; i < 40; i++)
            examples.Add(new(empty, [(i / 2) % 2], null, 21 + i, AugmentedFrom: i / 2 + 1));
        var (train, validation) = Nuansa.Training.Trainer.StratifiedSplit(examples, 0.5, 3);
        var held = validation.Where(e => e.AugmentedFrom == null).Select(e => e.Line).ToHashSet();
        Assert.Equal(10, held.Count);
        Assert.All(train.Where(e => e.AugmentedFrom != null), v => Assert.DoesNotContain(v.AugmentedFrom!.Value, held));
        Assert.All(validation.Where(e => e.AugmentedFrom != null), v => Assert.Contains(v.AugmentedFrom!.Value, held));
        Assert.Equal(60, train.Count + validation.Count);
    }
}
