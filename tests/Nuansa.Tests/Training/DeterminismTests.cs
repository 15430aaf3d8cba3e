using System.Security.Cryptography;
using Nuansa.Checkpoints;
using Nuansa.Data;
using Nuansa.Training;

namespace Nuansa.Tests.Training;

/// <summary>
/// The same seed gives the same weights on any thread count. Fine-tunes the real pretrained MiniLM (its embedding
/// gradients sum many repeated ids: [CLS], [SEP], every token type), where a racing scatter once made every
/// multi-threaded run differ.
/// </summary>
public class DeterminismTests
{
    private static string MiniLm => Path.Combine(SharedFiles.Root, "models", "all-MiniLM-L6-v2");

    [Fact]
    public void TheSameSeedGivesByteIdenticalWeightsOnOneTwoAndFourThreads()
    {
        var rows = File.ReadLines(Path.Combine(SharedFiles.Root, "data", "sst2", "train.tsv")).Skip(1).Take(64)
            .Select(l => l.Split('\t'))
            .Select(f => (IReadOnlyDictionary<string, string?>)new Dictionary<string, string?> { ["text"] = f[0], ["label"] = f[1] })
            .ToArray();
        var data = TrainingData.FromRows("sst2 sample", rows);
        using var dir = new TempDirectory();
        string Train(int threads, string name)
        {
            var options = new TrainingOptions
            {
                Labels = ["negative", "positive"], MaxSteps = 2, PerDeviceTrainBatchSize = 32, MaxLength = 32, LearningRate = 1e-3,
                Threads = threads, CheckpointDirectory = "", Seed = 7,
            };
            var output = dir.File(name);
            Trainer.Train(MiniLm, data, null, output, options);
            return Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(Path.Combine(output, "model.safetensors"))));
        }

        var one = Train(1, "t1");
        Assert.Equal(one, Train(2, "t2"));
        Assert.Equal(one, Train(4, "t4"));
        Assert.Equal(one, Train(2, "t2-again"));
        // And training moved the weights (a run that changed nothing would also be "repeatable").
        using var before = WeightStore.Open(MiniLm);
        using var after = WeightStore.Open(dir.File("t1"));
        // The base checkpoint has no "bert." prefix; the classifier written from it has.
        Assert.NotEqual(before.GetSingle("embeddings.word_embeddings.weight"), after.GetSingle("bert.embeddings.word_embeddings.weight"));
    }
}
