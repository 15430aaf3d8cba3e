using Nuansa.Data;
using Nuansa.Evaluation;
using Nuansa.Inference;

namespace Nuansa.Tests.Evaluation;

/// <summary>Evaluation as a library call on rows built in code, as a service would run it.</summary>
public class ModelEvaluationTests
{
    [Fact]
    public void RowsInMemoryAreEvaluatedAgainstTheModelsOwnPredictions()
    {
        using var classifier = TextClassifier.Load(SharedFiles.Model("bert-2label"));
        string[] texts = ["good film", "bad film", "fine plot", "awful plot"];
        string[] gold = ["positive", "negative", "positive", "negative"];
        var data = TrainingData.FromRows("in memory", texts.Zip(gold).Select(p => (IReadOnlyDictionary<string, string?>)new Dictionary<string, string?> { ["text"] = p.First, ["label"] = p.Second }));
        var evaluation = ModelEvaluation.Evaluate(classifier, data, options: new EvaluationOptions { BootstrapResamples = 0 });

        var predicted = texts.Select(t => classifier.Classify(t).Top.Label).ToArray();
        var (_, report) = Assert.Single(evaluation.Reports);
        Assert.Equal(predicted.Zip(gold).Count(p => p.First == p.Second) / 4.0, report.Metrics.Accuracy, 12);
        Assert.Equal(4, evaluation.Count);
        Assert.Null(evaluation.MultiLabel);
        var lines = evaluation.Predictions.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(4, lines.Length);
        Assert.StartsWith("{\"line\":1,\"labels\":[{\"label\":\"" + predicted[0], lines[0], StringComparison.Ordinal);
        Assert.EndsWith("\"label\":\"positive\"}", lines[0], StringComparison.Ordinal);

        var e = Assert.Throws<NuansaException>(() => ModelEvaluation.Evaluate(classifier, TrainingData.FromRows("empty", [])));
        Assert.Equal("empty: no examples to evaluate.", e.Message);
    }
}
