using System.Text.Json;
using Nuansa.Checkpoints;
using Nuansa.Training;

namespace Nuansa.Tests.Training;

/// <summary>Each loss's value recomputed by hand (in double) from the logits the same run returns.</summary>
public class LossTests
{
    private static TrainingBatch Batch(long[] labels, float[]? targets = null)
    {
        using var json = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(SharedFiles.Fixtures, "training", "bert-2label-adamw", "training.json")));
        var batch = json.RootElement.GetProperty("batch");
        long[] Flat(string name) => [.. batch.GetProperty(name).EnumerateArray().SelectMany(r => r.EnumerateArray().Select(v => v.GetInt64()))];
        var ids = Flat("input_ids");
        return new TrainingBatch(ids, Flat("attention_mask"), Flat("token_type_ids"), labels, 8, ids.Length / 8, targets);
    }

    private static (float Loss, float[] Logits) Run(string model, LossOptions loss, TrainingBatch batch, float[] weights)
    {
        var folder = SharedFiles.Model(model);
        using var store = WeightStore.Open(folder);
        var graph = TrainingGraph.Build(ModelConfig.Load(folder), store, loss);
        using var session = new TrainingSession(graph);
        var result = session.Run(batch, graph.InitialValues, weights);
        Assert.All(result.Gradients, g => Assert.All(g, v => Assert.True(float.IsFinite(v))));
        return (result.Loss, result.Logits);
    }

    private static double[] LogSoftmax(float[] logits, int row, int width)
    {
        var x = Enumerable.Range(0, width).Select(c => (double)logits[row * width + c]).ToArray();
        var max = x.Max();
        var log = Math.Log(x.Sum(v => Math.Exp(v - max))) + max;
        return [.. x.Select(v => v - log)];
    }

    [Fact]
    public void FocalLossIsWeightedAndModulated()
    {
        long[] labels = [0, 1, 0, 1, 1, 1, 0, 0];
        float[] w = [0.5f, 2f];
        var (loss, logits) = Run("bert-2label", new LossOptions { Kind = LossKind.Focal, FocalGamma = 2 }, Batch(labels), w);
        double num = 0, den = 0;
        for (var i = 0; i < 8; i++)
        {
            var lp = LogSoftmax(logits, i, 2)[labels[i]];
            num += w[labels[i]] * Math.Pow(1 - Math.Exp(lp), 2) * -lp;
            den += w[labels[i]];
        }
        // A tolerance, not rounding to 5 places: 0.420364959 and 0.420365006 round apart (seen on an AVX2-only Zen 3).
        Assert.True(Math.Abs(num / den - loss) <= 1e-6, $"{loss} vs {num / den}");
    }

    [Fact]
    public void LabelSmoothingFollowsTorch()
    {
        long[] labels = [0, 1, 0, 1, 1, 1, 0, 0];
        float[] w = [0.678f, 1.904f];
        var (loss, logits) = Run("bert-2label", new LossOptions { LabelSmoothing = 0.1 }, Batch(labels), w);
        double nll = 0, smooth = 0, den = 0;
        for (var i = 0; i < 8; i++)
        {
            var lp = LogSoftmax(logits, i, 2);
            nll += w[labels[i]] * -lp[labels[i]];
            smooth += -(w[0] * lp[0] + w[1] * lp[1]);
            den += w[labels[i]];
        }
        Assert.Equal(0.9 * nll / den + 0.1 / 2 * smooth / den, loss, 5);
    }

    [Fact]
    public void BinaryCrossEntropyUsesPositiveWeights()
    {
        var targets = Enumerable.Range(0, 32).Select(i => (float)((i * 7 + i / 3) % 2)).ToArray();
        float[] pw = [1f, 2f, 0.5f, 3f];
        var (loss, logits) = Run("bert-multilabel-4-bf16", new LossOptions { Kind = LossKind.BinaryCrossEntropy }, Batch([], targets), pw);
        double sum = 0;
        for (var i = 0; i < 32; i++)
        {
            var x = (double)logits[i];
            var y = targets[i];
            sum += pw[i % 4] * y * Math.Log(1 + Math.Exp(-x)) + (1 - y) * Math.Log(1 + Math.Exp(x));
        }
        Assert.Equal(sum / 32, loss, 5);
    }

    [Fact]
    public void MultiTaskLossIsTheMeanOfTheTasksCrossEntropies()
    {
        // 4 outputs read as 2 tasks × 2 classes; labels [rows × tasks].
        long[] labels = [0, 1, 1, 1, 0, 0, 1, 0, 1, 1, 0, 1, 1, 0, 0, 0];
        var (loss, logits) = Run("bert-multilabel-4-bf16", new LossOptions { Kind = LossKind.MultiTaskCrossEntropy, TaskSizes = [2, 2] }, Batch(labels), [1f, 1f, 1f, 1f]);
        double sum = 0;
        for (var i = 0; i < 8; i++)
        {
            for (var t = 0; t < 2; t++)
                sum -= SliceLogSoftmax(logits, i, t * 2, 2)[labels[i * 2 + t]];
        }
        Assert.Equal(sum / 16, loss, 5);
    }

    [Fact]
    public void MultiTaskLossHandlesTasksOfDifferentSizesWithClassWeights()
    {
        // 4 outputs read as a 1-class task, then a 3-class task with class weights 0.5, 2, 1 (the first task's weight 3
        // cancels out in its own normalization): mean over tasks of Σ w[y]·(−log p_y) / Σ w[y].
        long[] labels = [0, 2, 0, 0, 0, 1, 0, 2, 0, 1, 0, 0, 0, 1, 0, 2];
        float[] weights = [3f, 0.5f, 2f, 1f];
        var (loss, logits) = Run("bert-multilabel-4-bf16", new LossOptions { Kind = LossKind.MultiTaskCrossEntropy, TaskSizes = [1, 3] }, Batch(labels), weights);
        double second = 0, secondWeights = 0;
        for (var i = 0; i < 8; i++)
        {
            Assert.Equal(0, SliceLogSoftmax(logits, i, 0, 1)[0], 12); // one class: log p = 0
            var y = (int)labels[i * 2 + 1];
            second -= weights[1 + y] * SliceLogSoftmax(logits, i, 1, 3)[y];
            secondWeights += weights[1 + y];
        }
        Assert.Equal((0 + second / secondWeights) / 2, loss, 5);
        Assert.Throws<NuansaException>(() => Run("bert-multilabel-4-bf16", new LossOptions { Kind = LossKind.MultiTaskCrossEntropy, TaskSizes = [2, 3] }, Batch(labels), weights));
    }

    [Fact]
    public void MultiTaskGradientsMatchFiniteDifferences()
    {
        // The classifier bias gradient of tasks [1, 3] against central differences of the same graph's loss.
        long[] labels = [0, 2, 0, 0, 0, 1, 0, 2, 0, 1, 0, 0, 0, 1, 0, 2];
        float[] weights = [1f, 0.5f, 2f, 1f];
        var folder = SharedFiles.Model("bert-multilabel-4-bf16");
        using var store = WeightStore.Open(folder);
        var graph = TrainingGraph.Build(ModelConfig.Load(folder), store, new LossOptions { Kind = LossKind.MultiTaskCrossEntropy, TaskSizes = [1, 3] });
        using var session = new TrainingSession(graph);
        var parameters = graph.InitialValues.ToDictionary(p => p.Key, p => p.Value.ToArray());
        var batch = Batch(labels);
        var gradients = session.Run(batch, parameters, weights).Gradients;
        // The classifier's bias, and a few weights deep in the encoder (the gradient flows through both task slices).
        foreach (var (name, elements) in new[] { ("classifier.bias", new[] { 0, 1, 2, 3 }), ("bert.encoder.layer.0.attention.self.query.weight", new[] { 0, 5, 77 }) })
        {
            var values = parameters[name];
            var analytic = gradients[graph.Parameters.ToList().FindIndex(p => p.Name == name)];
            foreach (var k in elements)
            {
                var original = values[k];
                values[k] = original + 1e-2f;
                var up = session.Run(batch, parameters, weights).Loss;
                values[k] = original - 1e-2f;
                var down = session.Run(batch, parameters, weights).Loss;
                values[k] = original;
                var numeric = (up - down) / 2e-2;
                Assert.True(Math.Abs(numeric - analytic[k]) <= 2e-5 + 1e-2 * Math.Abs(numeric), $"{name}[{k}]: analytic {analytic[k]} vs numeric {numeric}");
            }
        }
    }

    private static double[] SliceLogSoftmax(float[] logits, int row, int offset, int width)
    {
        var x = Enumerable.Range(offset, width).Select(c => (double)logits[row * 4 + c]).ToArray();
        var max = x.Max();
        var log = Math.Log(x.Sum(v => Math.Exp(v - max))) + max;
        return [.. x.Select(v => v - log)];
    }
}
