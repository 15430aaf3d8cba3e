using Nuansa.Evaluation;

namespace Nuansa.Tests.Evaluation;

public class ClassificationMetricsTests
{
    [Fact]
    public void MatchesAHandWorkedExample()
    {
        // gold 0 0 1 1 2 2 2, predicted 0 1 1 1 2 0 2.
        // class 0: TP 1 of 2 predicted, 2 gold → P ½, R ½, F1 ½; class 1: TP 2 of 3 predicted, 2 gold → P ⅔, R 1, F1 0.8;
        // class 2: TP 2 of 2 predicted, 3 gold → P 1, R ⅔, F1 0.8. Accuracy 5/7.
        // MCC: t = (2,2,3), p = (2,3,2): (5·7 − 16) / √((49 − 17)(49 − 17)) = 19/32.
        var m = ClassificationMetrics.Compute([0, 0, 1, 1, 2, 2, 2], [0, 1, 1, 1, 2, 0, 2], 3);
        Assert.Equal(5.0 / 7, m.Accuracy, 12);
        Assert.Equal(0.5, m.PerClass[0].F1, 12);
        Assert.Equal(2.0 / 3, m.PerClass[1].Precision, 12);
        Assert.Equal(1.0, m.PerClass[1].Recall, 12);
        Assert.Equal(0.8, m.PerClass[1].F1, 12);
        Assert.Equal(2.0 / 3, m.PerClass[2].Recall, 12);
        Assert.Equal(3, m.PerClass[2].Support);
        Assert.Equal((0.5 + 2.0 / 3 + 1) / 3, m.PrecisionMacro, 12);
        Assert.Equal((0.5 + 1 + 2.0 / 3) / 3, m.RecallMacro, 12);
        Assert.Equal(0.7, m.F1Macro, 12);
        Assert.Equal((2 * 0.5 + 2 * 0.8 + 3 * 0.8) / 7, m.F1Weighted, 12);
        Assert.Equal(5.0 / 7, m.F1Micro, 12);
        Assert.Equal(19.0 / 32, m.Mcc, 12);
        Assert.Equal(1, m.Confusion[2, 0]);
        Assert.Equal(m.F1Macro, m["f1_macro"]);
    }

    [Fact]
    public void LabelsThatNeverOccurAreLeftOutOfAveragesAndUndefinedScoresAreZero()
    {
        // Four labels, label 3 never gold nor predicted; label 2 predicted but never gold (precision 0, recall undefined → 0).
        var m = ClassificationMetrics.Compute([0, 0, 1, 1], [0, 2, 1, 1], 4);
        Assert.Equal([0, 1, 2], m.PresentLabels);
        Assert.Equal(0.0, m.PerClass[2].F1);
        // F1: class 0 = 2·1·½/(1½) = ⅔, class 1 = 1, class 2 = 0 → macro 5/9.
        Assert.Equal(5.0 / 9, m.F1Macro, 12);
        Assert.Equal((2 * (2.0 / 3) + 2 * 1.0) / 4, m.F1Weighted, 12);
    }

    [Fact]
    public void ConstantPredictionsHaveZeroMcc()
    {
        var m = ClassificationMetrics.Compute([0, 1, 1, 0], [1, 1, 1, 1], 2);
        Assert.Equal(0.0, m.Mcc);
        Assert.Equal(0.5, m.Accuracy);
        Assert.Throws<NuansaException>(() => m["auc"]);
    }
}

public class MultiLabelMetricsTests
{
    [Fact]
    public void MatchesAHandWorkedExample()
    {
        // Three rows, three labels. Gold: {0,1} {2} {} ; predicted: {0} {2} {1}.
        // Exact rows: the second only → subset accuracy 1/3. Wrong decisions: row 1 label 1, row 3 label 1 → 2 of 9.
        // Label 0: TP 1; label 1: FP 1, FN 1; label 2: TP 1 → micro F1 = 2·2 / (2·2 + 1 + 1) = 2/3; macro F1 = (1 + 0 + 1) / 3.
        var gold = new[] { new[] { true, true, false }, [false, false, true], [false, false, false] };
        var predicted = new[] { new[] { true, false, false }, [false, false, true], [false, true, false] };
        var m = Nuansa.Evaluation.MultiLabelMetrics.Compute(gold, predicted);
        Assert.Equal(1.0 / 3, m.SubsetAccuracy, 12);
        Assert.Equal(2.0 / 9, m.HammingLoss, 12);
        Assert.Equal(2.0 / 3, m.F1Micro, 12);
        Assert.Equal(2.0 / 3, m.F1Macro, 12);
        Assert.Equal(0.0, m.PerLabel[1].F1);
    }
}

public class RandomizedMetricsTests
{
    [Theory]
    [InlineData(1, 2, 50)]
    [InlineData(2, 3, 200)]
    [InlineData(3, 5, 37)]
    [InlineData(4, 7, 500)]
    public void AgreeWithScikitLearnFormulasComputedDirectly(int seed, int classes, int count)
    {
        // An independent, literal transcription of scikit-learn's definitions (per-class counts by filtering),
        // checked on random labels: averages over labels present in gold ∪ predicted, zero_division = 0.
        var random = new Random(seed);
        var gold = Enumerable.Range(0, count).Select(_ => random.Next(classes)).ToArray();
        var predicted = gold.Select(g => random.NextDouble() < 0.6 ? g : random.Next(classes)).ToArray();
        var m = Nuansa.Evaluation.ClassificationMetrics.Compute(gold, predicted, classes);

        var present = gold.Union(predicted).Order().ToArray();
        double P(int c) => predicted.Count(p => p == c) is var n and > 0 ? (double)Enumerable.Range(0, count).Count(i => gold[i] == c && predicted[i] == c) / n : 0;
        double R(int c) => gold.Count(g => g == c) is var n and > 0 ? (double)Enumerable.Range(0, count).Count(i => gold[i] == c && predicted[i] == c) / n : 0;
        double F(int c) => P(c) + R(c) is var s and > 0 ? 2 * P(c) * R(c) / s : 0;
        Assert.Equal(Enumerable.Range(0, count).Count(i => gold[i] == predicted[i]) / (double)count, m.Accuracy, 12);
        Assert.Equal(present.Average(P), m.PrecisionMacro, 12);
        Assert.Equal(present.Average(R), m.RecallMacro, 12);
        Assert.Equal(present.Average(F), m.F1Macro, 12);
        Assert.Equal(present.Sum(c => F(c) * gold.Count(g => g == c)) / count, m.F1Weighted, 12);

        // MCC from its covariance definition over one-hot indicator matrices.
        double Cov(int[] a, int[] b)
        {
            double total = 0;
            for (var k = 0; k < classes; k++)
            {
                var ma = a.Average(x => x == k ? 1.0 : 0);
                var mb = b.Average(x => x == k ? 1.0 : 0);
                total += Enumerable.Range(0, count).Sum(i => ((a[i] == k ? 1 : 0) - ma) * ((b[i] == k ? 1 : 0) - mb));
            }
            return total;
        }
        var denominator = Math.Sqrt(Cov(gold, gold) * Cov(predicted, predicted));
        Assert.Equal(denominator == 0 ? 0 : Cov(gold, predicted) / denominator, m.Mcc, 10);
    }
}
