using Nuansa.Evaluation;

namespace Nuansa.Training;

/// <summary>The trainer's evaluation: the validation data through the evaluation graph, its loss and metrics.</summary>
public static partial class Trainer
{
    // HF's evaluation loop: batches in data order, the loss each batch's (the training objective, dropout off) and the
    // evaluation loss their mean weighted by batch size, as Trainer.evaluate reports eval_loss.
    private static EvaluationRecord Evaluate(TrainingSession evaluator, List<Example> validation, Dictionary<string, float[]> parameters, float[] lossWeights,
        TaskSpec task, TrainingOptions options, int padId, int step, double epoch)
    {
        var labels = task.Config.NumLabels;
        var rows = new List<(Example Example, float[] Logits)>();
        double lossSum = 0;
        foreach (var chunk in validation.Chunk(options.PerDeviceEvalBatchSize))
        {
            var (loss, logits) = evaluator.Evaluate(Pad(chunk, padId), parameters, lossWeights);
            lossSum += (double)loss * chunk.Length;
            for (var i = 0; i < chunk.Length; i++)
                rows.Add((chunk[i], logits[(i * labels)..((i + 1) * labels)]));
        }
        var values = new Dictionary<string, double>(StringComparer.Ordinal);
        switch (task.Mode)
        {
            case TaskMode.MultiLabel:
            {
                var metrics = MultiLabelMetrics.Compute([.. rows.Select(r => r.Example.Targets!.Select(t => t > 0.5f).ToArray())],
                    [.. rows.Select(r => r.Logits.Select(z => z > 0).ToArray())]); // sigmoid(z) > 0.5
                foreach (var (name, value) in metrics.ByName)
                    values[name] = value;
                break;
            }
            case TaskMode.MultiTask:
            {
                var tasks = task.Tasks!;
                var perTask = new List<ClassificationMetrics>();
                var offset = 0;
                for (var t = 0; t < tasks.Count; t++)
                {
                    var (start, width) = (offset, tasks[t].Labels.Count);
                    offset += width;
                    var gold = rows.Select(r => (int)r.Example.Labels[t]).ToList();
                    var predicted = rows.Select(r => ArgMax(r.Logits.AsSpan(start, width))).ToList();
                    var m = ClassificationMetrics.Compute(gold, predicted, width);
                    perTask.Add(m);
                    foreach (var name in ClassificationMetrics.Names)
                        values[$"{tasks[t].Name}/{name}"] = m[name];
                }
                // The overall figures are the tasks' means, as the multi-task card reports them.
                foreach (var name in ClassificationMetrics.Names)
                    values[name] = perTask.Average(m => m[name]);
                break;
            }
            default:
            {
                var metrics = ClassificationMetrics.Compute([.. rows.Select(r => (int)r.Example.Labels[0])], [.. rows.Select(r => ArgMax(r.Logits))], labels);
                foreach (var name in ClassificationMetrics.Names)
                    values[name] = metrics[name];
                break;
            }
        }
        values["loss"] = lossSum / validation.Count;
        return new EvaluationRecord(step, epoch, values);
    }

    private static int ArgMax(ReadOnlySpan<float> row)
    {
        var best = 0;
        for (var c = 1; c < row.Length; c++)
        {
            if (row[c] > row[best])
                best = c;
        }
        return best;
    }
}
