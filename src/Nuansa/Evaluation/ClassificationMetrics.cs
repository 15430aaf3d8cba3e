namespace Nuansa.Evaluation;

/// <summary>Precision, recall, F1 and support of one class.</summary>
public sealed record ClassScores(double Precision, double Recall, double F1, int Support)
{
    /// <summary>The <c>per_class</c> object of metrics.json: label → precision, recall, f1, support.</summary>
    public static void WriteAll(System.Text.Json.Utf8JsonWriter json, IReadOnlyList<string> labels, IReadOnlyList<ClassScores> scores)
    {
        json.WriteStartObject("per_class");
        for (var c = 0; c < labels.Count; c++)
        {
            json.WriteStartObject(labels[c]);
            json.WriteNumber("precision", scores[c].Precision);
            json.WriteNumber("recall", scores[c].Recall);
            json.WriteNumber("f1", scores[c].F1);
            json.WriteNumber("support", scores[c].Support);
            json.WriteEndObject();
        }
        json.WriteEndObject();
    }
}

/// <summary>
/// Single-label classification metrics with scikit-learn's definitions: per-class precision/recall/F1
/// (0 where undefined, as <c>zero_division=0</c>), their macro, support-weighted and micro averages over the
/// labels present in the gold or predicted labels, accuracy, Matthews correlation and the confusion matrix.
/// </summary>
public sealed class ClassificationMetrics
{
    private ClassificationMetrics(int[,] confusion, IReadOnlyList<int> present)
    {
        Confusion = confusion;
        var n = confusion.GetLength(0);
        var total = 0;
        var correct = 0;
        var trueCounts = new int[n];
        var predictedCounts = new int[n];
        for (var t = 0; t < n; t++)
        {
            for (var p = 0; p < n; p++)
            {
                total += confusion[t, p];
                trueCounts[t] += confusion[t, p];
                predictedCounts[p] += confusion[t, p];
                if (t == p)
                    correct += confusion[t, p];
            }
        }
        Count = total;
        Accuracy = total == 0 ? 0 : (double)correct / total;
        var perClass = new ClassScores[n];
        for (var c = 0; c < n; c++)
        {
            var tp = confusion[c, c];
            var precision = predictedCounts[c] == 0 ? 0 : (double)tp / predictedCounts[c];
            var recall = trueCounts[c] == 0 ? 0 : (double)tp / trueCounts[c];
            var f1 = precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall);
            perClass[c] = new ClassScores(precision, recall, f1, trueCounts[c]);
        }
        PerClass = perClass;
        PresentLabels = present;
        PrecisionMacro = present.Count == 0 ? 0 : present.Average(c => perClass[c].Precision);
        RecallMacro = present.Count == 0 ? 0 : present.Average(c => perClass[c].Recall);
        F1Macro = present.Count == 0 ? 0 : present.Average(c => perClass[c].F1);
        F1Weighted = total == 0 ? 0 : present.Sum(c => perClass[c].F1 * perClass[c].Support) / total;
        F1Micro = Accuracy; // single-label: micro precision = micro recall = accuracy

        double covTP = (double)correct * total, covPP = (double)total * total, covTT = covPP;
        for (var c = 0; c < n; c++)
        {
            covTP -= (double)trueCounts[c] * predictedCounts[c];
            covPP -= (double)predictedCounts[c] * predictedCounts[c];
            covTT -= (double)trueCounts[c] * trueCounts[c];
        }
        Mcc = covPP * covTT == 0 ? 0 : covTP / Math.Sqrt(covTT * covPP);
    }

    /// <summary>Rows are gold labels, columns predicted labels (label ids).</summary>
    public int[,] Confusion { get; }

    /// <summary>Number of examples scored.</summary>
    public int Count { get; }

    /// <summary>Share of examples whose predicted label is the gold one.</summary>
    public double Accuracy { get; }

    /// <summary>Precision, recall, F1 and support of each label id.</summary>
    public IReadOnlyList<ClassScores> PerClass { get; }

    /// <summary>The label ids that occur as gold or predicted labels; the averages run over these, as in scikit-learn.</summary>
    public IReadOnlyList<int> PresentLabels { get; }

    /// <summary>Unweighted mean of the present labels' precision.</summary>
    public double PrecisionMacro { get; }

    /// <summary>Unweighted mean of the present labels' recall.</summary>
    public double RecallMacro { get; }

    /// <summary>Unweighted mean of the present labels' F1.</summary>
    public double F1Macro { get; }

    /// <summary>Mean of the labels' F1 weighted by their support.</summary>
    public double F1Weighted { get; }

    /// <summary>F1 of the pooled counts (equal to accuracy for single-label data).</summary>
    public double F1Micro { get; }

    /// <summary>Matthews correlation coefficient (multi-class form).</summary>
    public double Mcc { get; }

    /// <summary>Scores gold against predicted label ids for a model with <paramref name="labelCount"/> labels.</summary>
    public static ClassificationMetrics Compute(IReadOnlyList<int> gold, IReadOnlyList<int> predicted, int labelCount)
    {
        if (gold.Count != predicted.Count)
            throw new ArgumentException($"{gold.Count} gold labels but {predicted.Count} predictions.");
        var confusion = new int[labelCount, labelCount];
        for (var i = 0; i < gold.Count; i++)
        {
            if (gold[i] < 0 || gold[i] >= labelCount || predicted[i] < 0 || predicted[i] >= labelCount)
                throw new ArgumentOutOfRangeException(nameof(gold), $"Example {i} has a label id outside 0..{labelCount - 1}.");
            confusion[gold[i], predicted[i]]++;
        }
        var present = gold.Concat(predicted).Distinct().Order().ToArray();
        return new ClassificationMetrics(confusion, present);
    }

    /// <summary>A metric by its HF/scikit-learn name (<c>accuracy</c>, <c>f1_macro</c>, <c>f1_weighted</c>, <c>f1_micro</c>, <c>precision_macro</c>, <c>recall_macro</c>, <c>mcc</c>).</summary>
    public double this[string name] => name switch
    {
        "accuracy" => Accuracy,
        "f1_macro" or "f1" => F1Macro,
        "f1_weighted" => F1Weighted,
        "f1_micro" => F1Micro,
        "precision_macro" => PrecisionMacro,
        "recall_macro" => RecallMacro,
        "mcc" => Mcc,
        _ => throw new NuansaException($"Unknown metric \"{name}\"; use one of {string.Join(", ", Names)}."),
    };

    /// <summary>The metric names the indexer takes, in report order.</summary>
    public static IReadOnlyList<string> Names { get; } = ["accuracy", "f1_macro", "f1_weighted", "f1_micro", "precision_macro", "recall_macro", "mcc"];
}
