using Nuansa.Checkpoints;
using Nuansa.Data;
using Nuansa.Tokenization;

namespace Nuansa.Training;

/// <summary>The trainer's data: rows to encoded examples with their labels, the stratified split, class weights, oversampling, length-grouped batches.</summary>
public static partial class Trainer
{
    /// <summary>An encoded input with its labels: label ids (one, or one per task), or 0/1 targets for multi-label.</summary>
    internal sealed record Example(Tokenization.Encoding Encoding, long[] Labels, float[]? Targets, int Line, bool IsPair = false, int? AugmentedFrom = null)
    {
        public int Stratum => Labels.Length > 0 ? (int)Labels[0] : Array.IndexOf(Targets!, 1f);
    }

    internal enum TaskMode
    {
        SingleLabel,
        MultiLabel,
        MultiTask,
    }

    /// <summary>What is being trained: the mode, its loss and, for multi-task models, the tasks.</summary>
    internal sealed class TaskSpec
    {
        public TaskSpec(ModelConfig config, IReadOnlyList<Inference.TaskHead>? tasks, TrainingOptions options)
        {
            Config = config;
            Tasks = tasks;
            Mode = tasks != null ? TaskMode.MultiTask : config.Problem == Problem.MultiLabelClassification ? TaskMode.MultiLabel : TaskMode.SingleLabel;
            Loss = Mode switch
            {
                TaskMode.MultiLabel => new LossOptions { Kind = LossKind.BinaryCrossEntropy },
                TaskMode.MultiTask => new LossOptions { Kind = LossKind.MultiTaskCrossEntropy, TaskSizes = [.. tasks!.Select(t => t.Labels.Count)] },
                _ => new LossOptions { Kind = options.Loss, FocalGamma = options.FocalGamma, LabelSmoothing = options.LabelSmoothing },
            };
        }

        public ModelConfig Config { get; }
        public IReadOnlyList<Inference.TaskHead>? Tasks { get; }
        public TaskMode Mode { get; }
        public LossOptions Loss { get; }
    }

    internal static List<Example> ReadExamples(TrainingData data, TaskSpec task, TrainingOptions options, Tokenizer tokenizer)
    {
        var (path, rows) = (data.Source, data.Rows);
        CheckColumns(data, task, options);
        var preprocessing = options.Preprocessing ?? Data.TextPreprocessing.FromConfig(task.Config);
        // The rows as classify reads them (a context column goes first), so a model trains on what it will be given.
        var inputs = Inference.TableInputs.Read(rows, path, options.TextColumn, options.PairColumn)
            .Select(i => (preprocessing.Apply(i.Text), i.TextPair is { } pair ? preprocessing.Apply(pair) : null)).ToArray();
        var config = task.Config;
        var examples = rows.Select(r => task.Mode switch
        {
            TaskMode.MultiLabel => (Labels: Array.Empty<long>(), Targets: (float[]?)r.LabelSet(options.LabelColumn, config.Id2Label, path).Select(b => b ? 1f : 0f).ToArray()),
            TaskMode.MultiTask => (Labels: task.Tasks!.Select(t => (long)r.LabelId(t.Name, t.Labels, path, options.AbsentLabel ?? t.Labels[0])).ToArray(), Targets: null),
            _ => (Labels: new long[] { r.LabelId(options.LabelColumn, config.Id2Label, path) }, Targets: null),
        }).ToArray();
        var encodings = tokenizer.EncodeBatch(inputs, new EncodeOptions { MaxLength = options.MaxLength });
        return [.. rows.Select((r, i) => new Example(encodings[i], examples[i].Labels, examples[i].Targets, r.Line, inputs[i].Item2 != null,
            r.Fields.TryGetValue("augmented_from", out var source) && source.ValueKind == System.Text.Json.JsonValueKind.Number && source.TryGetInt32(out var from) ? from : null))];
    }

    /// <summary>Every column the options name is one the data has, checked before anything is tokenized.</summary>
    internal static void CheckColumns(TrainingData data, TaskSpec task, TrainingOptions options)
    {
        (string?, string)[] labels = task.Tasks is { } tasks ? [.. tasks.Select(t => ((string?)t.Name, $"task \"{t.Name}\""))] : [(options.LabelColumn, "label")];
        DataColumns.Require(data.Rows, data.Source, [(options.TextColumn, "text"), (options.PairColumn, "pair text"), .. labels]);
    }

    internal static (List<Example> Train, List<Example> Validation) StratifiedSplit(List<Example> all, double share, int seed)
    {
        var random = new Random(seed);
        var train = new List<Example>();
        var validation = new List<Example>();
        // Variants made by `nuansa augment` follow their source row, so no copy of a validation row is trained on.
        var lines = all.Select(e => e.Line).ToHashSet();
        var variants = all.Where(e => e.AugmentedFrom is { } source && lines.Contains(source)).ToList();
        var originals = all.Except(variants).ToList();
        foreach (var group in originals.GroupBy(e => e.Stratum).OrderBy(g => g.Key))
        {
            var items = group.ToArray();
            random.Shuffle(items);
            var held = (int)Math.Round(items.Length * share);
            validation.AddRange(items.Take(held));
            train.AddRange(items.Skip(held));
        }
        var heldLines = validation.Select(e => e.Line).ToHashSet();
        foreach (var v in variants)
            (heldLines.Contains(v.AugmentedFrom!.Value) ? validation : train).Add(v);
        train.Sort((a, b) => a.Line.CompareTo(b.Line));
        validation.Sort((a, b) => a.Line.CompareTo(b.Line));
        return (train, validation);
    }

    // Cross-entropy class weights in label-id order (multi-task: task after task, balanced within each task).
    private static float[] ClassWeights(TrainingOptions options, List<Example> train, TaskSpec task)
    {
        var labels = task.Config.NumLabels;
        if (options.ClassWeights is { } given)
        {
            if (given.Count != labels || given.Any(w => !(w >= 0)))
            {
                throw new NuansaException($"--class-weights needs {labels} non-negative numbers in label-id order" +
                    (task.Tasks != null ? " (the tasks' labels one task after another)." : "."));
            }
            return [.. given];
        }
        if (!options.BalancedClassWeights)
            return [.. Enumerable.Repeat(1f, labels)];
        var sizes = task.Tasks?.Select(t => t.Labels.Count).ToArray() ?? [labels];
        var weights = new List<float>();
        for (var t = 0; t < sizes.Length; t++)
        {
            // scikit-learn's balanced weights: n_samples / (n_classes · count(c)), over the classes present.
            var counts = new int[sizes[t]];
            foreach (var e in train)
                counts[e.Labels[t]]++;
            var present = counts.Count(c => c > 0);
            weights.AddRange(counts.Select(c => c == 0 ? 0f : (float)((double)train.Count / (present * c))));
        }
        return [.. weights];
    }

    /// <summary>Random oversampling: each class is topped up with seeded draws (with replacement) to the largest class's size.</summary>
    internal static List<Example> Oversample(List<Example> examples, int seed)
    {
        var random = new Random(seed);
        var groups = examples.GroupBy(e => e.Labels[0]).ToArray();
        var target = groups.Max(g => g.Count());
        var result = new List<Example>(examples);
        foreach (var group in groups.OrderBy(g => g.Key))
        {
            var members = group.ToArray();
            for (var i = members.Length; i < target; i++)
                result.Add(members[random.Next(members.Length)]);
        }
        return result;
    }

    private static float[] PositiveWeights(TrainingOptions options, int labels)
    {
        if (options.PosWeight is not { } given)
            return [.. Enumerable.Repeat(1f, labels)];
        if (given.Count != labels || given.Any(w => !(w >= 0)))
            throw new NuansaException($"--pos-weight needs {labels} non-negative numbers in label-id order.");
        return [.. given];
    }

    // Random batches (HF's default sampler); with groupByLength, batches of examples of similar length (within shuffled
    // windows of 50 batches); in file order without shuffling.
    internal static List<TrainingBatch> MakeBatches(IReadOnlyList<Example> examples, int size, Random? random, int padId, bool groupByLength = false)
    {
        var order = Enumerable.Range(0, examples.Count).ToArray();
        var groups = new List<int[]>();
        if (random == null)
        {
            groups.AddRange(order.Chunk(size));
        }
        else if (!groupByLength)
        {
            random.Shuffle(order);
            groups.AddRange(order.Chunk(size));
        }
        else
        {
            random.Shuffle(order);
            foreach (var window in order.Chunk(size * 50))
                groups.AddRange(window.OrderBy(i => examples[i].Encoding.Length).Chunk(size));
            var shuffled = groups.ToArray();
            random.Shuffle(shuffled);
            groups = [.. shuffled];
        }
        return [.. groups.Select(g => Pad([.. g.Select(i => examples[i])], padId))];
    }

    internal static TrainingBatch Pad(IReadOnlyList<Example> examples, int padId)
    {
        var (ids, mask, types, length) = Tokenization.Encoding.Pack([.. examples.Select(e => e.Encoding)], padId);
        var targets = examples[0].Targets != null ? examples.SelectMany(e => e.Targets!).ToArray() : null;
        return new TrainingBatch(ids, mask, types, [.. examples.SelectMany(e => e.Labels)], examples.Count, length, targets);
    }
}
