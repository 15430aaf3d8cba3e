using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Nuansa.Checkpoints;
using Nuansa.Data;
using Nuansa.Evaluation;
using Nuansa.Tokenization;

namespace Nuansa.Training;

/// <summary>
/// Fine-tunes a single-label sequence classifier as HF's <c>Trainer</c> does: AdamW with HF's parameter groups,
/// a warm-up schedule, gradient accumulation and clipping, evaluation with early stopping, the best weights
/// restored at the end when asked (<c>load_best_model_at_end</c>), and an HF checkpoint folder as output (with a JSON Lines training log).
/// </summary>
public static class Trainer
{
    public const string LogFileName = "trainer_log.jsonl";

    /// <summary>
    /// Trains <paramref name="modelDirectory"/> (a folder or Hub id) on <paramref name="train"/>, evaluating on
    /// <paramref name="validation"/> (or a stratified share of the training rows), and writes the checkpoint to <paramref name="outputDirectory"/>.
    /// Rows hold the columns the options name (text, pair, label or one per task); read files with <c>Nuansa.Reporting.TableReader</c>.
    /// </summary>
    public static TrainingResult Train(string modelDirectory, TrainingData train, TrainingData? validation, string outputDirectory,
        TrainingOptions options, IProgress<TrainingEvent>? progress = null, CancellationToken cancellationToken = default)
    {
        Validate(options);
        // Every output is checked before any work, so a run is never lost to a folder that was in the way.
        AtomicFolder.CheckWritable(outputDirectory);
        var checkpoints = options.CheckpointDirectory ?? Path.GetFullPath(outputDirectory).TrimEnd('/', '\\') + "-checkpoints";
        if (checkpoints.Length > 0 && options.ResumeFromCheckpoint == null && Directory.Exists(checkpoints) && Directory.EnumerateFileSystemEntries(checkpoints).Any())
            throw new NuansaException($"{checkpoints} already holds checkpoints of another run: resume from one (--resume-from-checkpoint), or choose another --checkpoint-dir.");
        if (checkpoints.Length > 0 && File.Exists(checkpoints))
            throw new NuansaException($"{checkpoints}: a file is in the way of the checkpoint folder.");
        if (checkpoints.Length > 0)
            OutputPath.CheckCanCreateIn(Path.GetDirectoryName(Path.GetFullPath(checkpoints))!, checkpoints);
        modelDirectory = Hub.HubModels.Resolve(modelDirectory);
        var config = ModelConfig.Load(modelDirectory);
        // A base checkpoint gets its labels here (HF's num_labels / id2label); multi-task heads take their size from the tasks.
        if (options.Labels is { } labels)
            config = ClassificationHead.WithLabels(config, labels);
        else if (options.Tasks is { } named && named.Sum(t => t.Labels.Count) != config.NumLabels)
            config = ClassificationHead.WithLabels(config, [.. named.SelectMany(t => t.Labels.Select(l => $"{t.Name}_{l}"))]);
        if (config.Problem == Problem.Regression)
            throw new NuansaException($"{config.Source}: a regression head (problem_type \"regression\", or a single output) is not supported by the trainer.");
        var tasks = options.Tasks != null ? Inference.MultiTask.Validate(options.Tasks, config) : Inference.MultiTask.FromConfig(config);
        var task = new TaskSpec(config, tasks, options);
        var tokenizer = Tokenizer.Load(modelDirectory);
        // Texts longer than the position table cannot go through the model: cut them where the model's limit is.
        var positions = Models.Architecture.For(config).MaxPositions(config);
        if (options.MaxLength > positions)
            throw new NuansaException($"--max-length {options.MaxLength} is more than the {positions} tokens {config.Source} takes (max_position_embeddings).");
        options = options with { MaxLength = options.MaxLength ?? Math.Min(tokenizer.ModelMaxLength, positions) };
        List<Example> trainRows;
        try
        {
            trainRows = ReadExamples(train, task, options, tokenizer);
        }
        catch (NuansaException e) when (options.Labels == null && config.Id2Label.Select((l, i) => l == $"LABEL_{i}").All(x => x))
        {
            // HF's placeholder names: a base checkpoint, which has no labels of its own yet.
            throw new NuansaException($"{e.Message} {config.Source} has only HF's placeholder labels (a base checkpoint?): name yours with --labels.");
        }
        var (examples, held) = validation != null
            ? (trainRows, ReadExamples(validation, task, options, tokenizer))
            : StratifiedSplit(trainRows, options.ValidationSplit, options.Seed);
        return Run(modelDirectory, config, tasks, task, tokenizer, examples, held, train.Source, validation?.Source, outputDirectory, checkpoints, options, progress, cancellationToken);
    }

    private static TrainingResult Run(string modelDirectory, ModelConfig config, IReadOnlyList<Inference.TaskHead>? tasks, TaskSpec task, Tokenizer tokenizer,
        List<Example> train, List<Example> validation, string trainSource, string? validationSource, string outputDirectory, string checkpoints,
        TrainingOptions options, IProgress<TrainingEvent>? progress, CancellationToken cancellationToken)
    {
        if (train.Count == 0)
            throw new NuansaException($"{trainSource}: no training examples (the file has a header but no rows).");
        if (task.Mode == TaskMode.SingleLabel && train.Select(e => e.Labels[0]).Distinct().Count() < 2)
        {
            throw new NuansaException($"{trainSource}: every training example has label \"{config.Id2Label[(int)train[0].Labels[0]]}\"; a classifier " +
                "trained on one label can only ever predict it. Add examples of the other labels.");
        }
        if (options.Oversample)
        {
            if (task.Mode != TaskMode.SingleLabel)
                throw new NuansaException("Oversampling is for single-label training.");
            train = Oversample(train, options.Seed);
        }
        var classWeights = task.Mode switch
        {
            TaskMode.MultiLabel => PositiveWeights(options, config.NumLabels),
            _ => ClassWeights(options, train, task),
        };

        var clock = Stopwatch.StartNew();
        using var store = WeightStore.Open(modelDirectory);
        var initialized = ClassificationHead.InitializeMissing(config, store, options.Seed);
        var graph = TrainingGraph.Build(config, store, task.Loss);
        using var session = new TrainingSession(graph, options.Threads, options.Seed);
        // The evaluation loss is the training objective: the same graph, dropout off, no gradients.
        using var evaluator = new TrainingSession(TrainingGraph.Build(config, store, task.Loss, evaluation: true), options.Threads);
        var parameters = graph.Parameters.ToDictionary(p => p.Name, p => graph.InitialValues[p.Name].ToArray());
        var optimizer = new AdamW(new AdamWOptions { Beta1 = options.AdamBeta1, Beta2 = options.AdamBeta2, Epsilon = options.AdamEpsilon, WeightDecay = options.WeightDecay });

        var microBatchesPerEpoch = (train.Count + options.PerDeviceTrainBatchSize - 1) / options.PerDeviceTrainBatchSize;
        var stepsPerEpoch = Math.Max(1, microBatchesPerEpoch / options.GradientAccumulationSteps);
        var totalSteps = options.MaxSteps ?? (int)Math.Ceiling(options.NumTrainEpochs * stepsPerEpoch);
        var warmup = options.WarmupSteps > 0 ? options.WarmupSteps : LearningRateSchedule.WarmupFromRatio(options.WarmupRatio, totalSteps);
        var schedule = new LearningRateSchedule(options.LrSchedulerType, warmup, totalSteps);
        var higherIsBetter = options.MetricForBestModel is not ("loss" or "hamming_loss");

        var log = new List<string>();
        var evaluations = new List<EvaluationRecord>();
        EvaluationRecord? best = null;
        Dictionary<string, float[]>? bestParameters = null;
        var sinceImprovement = 0;
        var stoppedEarly = false;
        var step = 0;
        var random = new Random(options.Seed);
        var tokens = 0L;
        var epochIndex = 0;
        if (options.ResumeFromCheckpoint is { } resume)
        {
            var state = Checkpoint.Load(resume, graph);
            foreach (var (name, values) in state.Parameters)
                parameters[name] = values;
            optimizer.Restore(state.OptimizerStep, state.Moments);
            (step, epochIndex, sinceImprovement) = (state.Step, state.Epoch, state.SinceImprovement);
            best = state.Best;
            bestParameters = state.BestParameters?.ToDictionary(p => p.Key, p => p.Value);
            evaluations.AddRange(state.Evaluations);
            log.AddRange(state.Log);
            // Replay the shuffles of the finished epochs so the next epoch sees the batches it would have seen.
            for (var e = 0; e < epochIndex; e++)
                MakeBatches(train, options.PerDeviceTrainBatchSize, options.Shuffle ? random : null, tokenizer.PadTokenId);
        }

        progress?.Report(new TrainingStarted(step, totalSteps, train.Count, validation.Count, initialized));
        var startStep = step;
        // Gradient buffers written in place by every step (micro-batch gradients too when accumulating).
        var sum = graph.Parameters.Select(p => new float[p.ElementCount]).ToArray();
        var micro = options.GradientAccumulationSteps > 1 ? graph.Parameters.Select(p => new float[p.ElementCount]).ToArray() : null;
        while (step < totalSteps && !stoppedEarly)
        {
            var batches = MakeBatches(train, options.PerDeviceTrainBatchSize, options.Shuffle ? random : null, tokenizer.PadTokenId);
            if (batches.Count < options.GradientAccumulationSteps)
                throw new NuansaException($"{train.Count} training examples make {batches.Count} batches, fewer than the {options.GradientAccumulationSteps} gradient accumulation steps.");
            var lossSum = 0.0;
            var lossCount = 0;
            for (var b = 0; b + options.GradientAccumulationSteps <= batches.Count && step < totalSteps; b += options.GradientAccumulationSteps)
            {
                cancellationToken.ThrowIfCancellationRequested();
                // HF divides each micro-batch loss by the accumulation steps: the gradients are averaged.
                var stepLoss = 0.0;
                for (var a = 0; a < options.GradientAccumulationSteps; a++)
                {
                    var batch = batches[b + a];
                    // Micro-batches of one step draw different masks: the step number is scaled by the accumulation.
                    var result = session.Run(batch, parameters, classWeights, step * options.GradientAccumulationSteps + a + 1, a == 0 ? sum : micro!);
                    tokens += batch.AttentionMask.Sum();
                    stepLoss += result.Loss / options.GradientAccumulationSteps;
                    if (a > 0)
                    {
                        for (var k = 0; k < sum.Length; k++)
                            System.Numerics.Tensors.TensorPrimitives.Add(sum[k], micro![k], sum[k]);
                    }
                }
                if (options.GradientAccumulationSteps > 1)
                {
                    foreach (var g in sum)
                        System.Numerics.Tensors.TensorPrimitives.Multiply(g, 1f / options.GradientAccumulationSteps, g);
                }
                step++;
                var norm = options.MaxGradNorm > 0 ? GradientClipping.ClipByGlobalNorm(sum, options.MaxGradNorm) : double.NaN;
                var lr = schedule.LearningRate(options.LearningRate, step);
                optimizer.Update(graph.Parameters.Select((p, i) => (p.Name, parameters[p.Name], sum[i], p.Decays)), lr);
                lossSum += stepLoss;
                lossCount++;
                var epoch = epochIndex + (double)(b + options.GradientAccumulationSteps) / batches.Count;
                log.Add(Json(new() { ["step"] = step, ["epoch"] = Math.Round(epoch, 4), ["loss"] = stepLoss, ["learning_rate"] = lr, ["grad_norm"] = norm }));
                var perStep = clock.Elapsed / (step - startStep);
                progress?.Report(new TrainingProgress(step, totalSteps, epoch, lossSum / lossCount, lr, tokens / clock.Elapsed.TotalSeconds, clock.Elapsed, perStep * (totalSteps - step)));

                var endOfEpoch = b + 2 * options.GradientAccumulationSteps > batches.Count;
                var evaluate = validation.Count > 0 && (options.EvalSteps is { } every ? step % every == 0 : endOfEpoch);
                if (!evaluate)
                    continue;
                var record = Evaluate(evaluator, validation, parameters, classWeights, task, options, tokenizer.PadTokenId, step, epoch);
                evaluations.Add(record);
                log.Add(Json(new(record.Metrics.Select(m => KeyValuePair.Create("eval_" + m.Key, (object?)m.Value))) { ["step"] = step, ["epoch"] = Math.Round(epoch, 4) }));
                // Validate checked the name; a metric another mode produces (subset_accuracy for single-label) still fails here.
                var value = record.Metrics.TryGetValue(options.MetricForBestModel, out var v) ? v
                    : throw new NuansaException($"Unknown metric_for_best_model \"{options.MetricForBestModel}\"; use one of {string.Join(", ", record.Metrics.Keys.Where(k => !k.Contains('/')))}.");
                var bestValue = best?.Metrics[options.MetricForBestModel];
                var improved = best == null || (higherIsBetter ? value > bestValue : value < bestValue);
                progress?.Report(new TrainingEvaluated(record, improved));
                if (improved)
                {
                    best = record;
                    // Only kept when it will be used: a copy of every weight is the model's size again.
                    bestParameters = options.LoadBestModelAtEnd ? parameters.ToDictionary(p => p.Key, p => p.Value.ToArray()) : null;
                    sinceImprovement = 0;
                }
                else if (options.EarlyStoppingPatience is { } patience && ++sinceImprovement >= patience)
                {
                    stoppedEarly = true;
                    break;
                }
            }
            epochIndex++;
            if (checkpoints.Length > 0 && step < totalSteps && !stoppedEarly)
            {
                var saved = Path.Combine(checkpoints, $"checkpoint-{step}");
                Checkpoint.Save(saved, new Checkpoint.State(step, epochIndex, optimizer.Step, sinceImprovement,
                    parameters, optimizer.Moments, best, bestParameters, evaluations, log));
                var removed = options.SaveTotalLimit is { } limit ? RemoveOldCheckpoints(checkpoints, limit) : [];
                progress?.Report(new CheckpointSaved(saved, FolderBytes(saved), FolderBytes(checkpoints),
                    Directory.GetDirectories(checkpoints, "checkpoint-*").Length, removed));
            }
        }

        // HF's default saves the last step's weights; load_best_model_at_end those of the best evaluation.
        var final = options.LoadBestModelAtEnd && bestParameters != null ? bestParameters : parameters;
        var savedStep = options.LoadBestModelAtEnd && best != null ? best.Step : step;
        var savedEvaluation = evaluations.LastOrDefault(e => e.Step == savedStep);
        var summary = new JsonObject
        {
            ["base_model"] = Path.GetFileName(Path.GetFullPath(modelDirectory).TrimEnd('/', '\\')),
            ["train_file"] = Path.GetFileName(trainSource),
            ["validation_file"] = validationSource != null ? Path.GetFileName(validationSource) : null,
            ["train_examples"] = train.Count,
            ["validation_examples"] = validation.Count,
            ["pairs"] = train.Any(e => e.IsPair),
            ["mode"] = task.Mode.ToString(),
            ["options"] = JsonSerializer.SerializeToNode(options, OptionsJson),
            ["steps"] = step,
            ["epochs"] = epochIndex,
            ["best"] = best == null ? null : JsonSerializer.SerializeToNode(best.Metrics.Where(m => !m.Key.Contains('/')).ToDictionary(m => m.Key, m => m.Value)),
            ["best_step"] = best?.Step,
            ["saved_step"] = savedStep,
            ["saved_metrics"] = savedEvaluation == null ? null
                : JsonSerializer.SerializeToNode(savedEvaluation.Metrics.Where(m => !m.Key.Contains('/')).ToDictionary(m => m.Key, m => m.Value)),
            ["duration_seconds"] = Math.Round(clock.Elapsed.TotalSeconds, 1),
        };
        SaveCheckpoint(modelDirectory, outputDirectory, config, graph, final, log, tasks, summary, options.Preprocessing);
        return new TrainingResult(step, epochIndex, evaluations, best, stoppedEarly, clock.Elapsed) { InitializedHead = initialized };
    }

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

    private static void Validate(TrainingOptions o)
    {
        if (o.PerDeviceTrainBatchSize < 1 || o.PerDeviceEvalBatchSize < 1 || o.GradientAccumulationSteps < 1)
            throw new NuansaException("Batch sizes and gradient accumulation steps must be at least 1.");
        if (o.LearningRate <= 0 || o.NumTrainEpochs <= 0 && o.MaxSteps == null)
            throw new NuansaException("The learning rate and the number of epochs must be positive.");
        if (o.ValidationSplit is < 0 or >= 1)
            throw new NuansaException("The validation split must be in [0, 1).");
        if (o.LabelSmoothing is < 0 or >= 1)
            throw new NuansaException("Label smoothing must be in [0, 1).");
        if (o.SaveTotalLimit is < 1)
            throw new NuansaException("--save-total-limit must be at least 1.");
        // As HF's EarlyStoppingCallback: stopping at the best evaluation only makes sense if its weights are the ones saved.
        if (o.EarlyStoppingPatience != null && !o.LoadBestModelAtEnd)
            throw new NuansaException("--early-stopping-patience needs --load-best-model-at-end (the weights saved are otherwise the last step's, past the best).");
        // Checked now, not at the first evaluation an epoch later.
        string[] known = ["loss", .. Evaluation.ClassificationMetrics.Names, "subset_accuracy", "hamming_loss"];
        if (!known.Contains(o.MetricForBestModel))
            throw new NuansaException($"Unknown metric_for_best_model \"{o.MetricForBestModel}\"; use one of {string.Join(", ", known)} (an eval_ prefix is fine).");
    }

    // The newest `limit` checkpoint-<step> folders stay; older ones go (each checkpoint carries the best weights so far).
    private static List<string> RemoveOldCheckpoints(string folder, int limit)
    {
        var removed = new List<string>();
        var saved = Directory.GetDirectories(folder, "checkpoint-*")
            .Select(d => (Path: d, Step: int.TryParse(Path.GetFileName(d)["checkpoint-".Length..], System.Globalization.CultureInfo.InvariantCulture, out var s) ? s : -1))
            .Where(c => c.Step >= 0)
            .OrderByDescending(c => c.Step);
        foreach (var (path, _) in saved.Skip(limit))
        {
            Directory.Delete(path, recursive: true);
            removed.Add(path);
        }
        return removed;
    }

    private static long FolderBytes(string folder) =>
        new DirectoryInfo(folder).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length);

    internal static List<Example> ReadExamples(TrainingData data, TaskSpec task, TrainingOptions options, Tokenizer tokenizer)
    {
        var (path, rows) = (data.Source, data.Rows);
        var preprocessing = options.Preprocessing ?? Data.TextPreprocessing.FromConfig(task.Config);
        var inputs = rows.Select(r => (preprocessing.Apply(r.Text(options.TextColumn, path)),
            r.Fields.ContainsKey(options.PairColumn) && r.OptionalText(options.PairColumn, path) is { } pair ? preprocessing.Apply(pair) : null)).ToArray();
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

    // Batches of examples of similar length (within shuffled windows of 50 batches), or in file order without shuffling.
    internal static List<TrainingBatch> MakeBatches(IReadOnlyList<Example> examples, int size, Random? random, int padId)
    {
        var order = Enumerable.Range(0, examples.Count).ToArray();
        var groups = new List<int[]>();
        if (random == null)
        {
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



    /// <summary>The file beside a trained model that records how it was trained (for its model card).</summary>
    public const string SummaryFileName = "training_args.json";

    private static readonly JsonSerializerOptions OptionsJson = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    private static void SaveCheckpoint(string modelDirectory, string outputDirectory, ModelConfig config, TrainingGraph graph,
        Dictionary<string, float[]> parameters, List<string> log, IReadOnlyList<Inference.TaskHead>? tasks, JsonObject summary, Data.TextPreprocessing? preprocessing)
    {
        AtomicFolder.Write(outputDirectory, staging =>
        {
            var configJson = JsonNode.Parse(config.ToJson())!.AsObject();
            configJson["architectures"] = new JsonArray(Models.Architecture.For(config).ClassName(config.ModelType));
            configJson["torch_dtype"] = "float32";
            if (preprocessing != null)
            {
                // Saved so that classification and serving normalize text as training did.
                if (preprocessing.IsEmpty)
                    configJson.Remove(Data.TextPreprocessing.ConfigField);
                else
                    configJson[Data.TextPreprocessing.ConfigField] = preprocessing.ToJson();
            }
            if (tasks != null)
            {
                // Saved so the model classifies as multi-task without being told again.
                configJson[Inference.MultiTask.ConfigField] = new JsonArray([.. tasks.Select(t =>
                    (JsonNode)new JsonObject { ["name"] = t.Name, ["labels"] = new JsonArray([.. t.Labels.Select(l => (JsonNode)l)]) })]);
            }
            File.WriteAllText(Path.Combine(staging, "config.json"), configJson.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
            SafeTensorsWriter.Write(Path.Combine(staging, WeightStore.SafetensorsName),
                graph.Parameters.Select(p => TensorToWrite.FromSingle(p.Name, p.Shape, parameters[p.Name])),
                new Dictionary<string, string> { ["format"] = "pt" });
            foreach (var name in new[] { "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt", "vocab.json", "merges.txt", "sentencepiece.bpe.model" })
            {
                var source = Path.Combine(modelDirectory, name);
                if (File.Exists(source))
                    File.Copy(source, Path.Combine(staging, name));
            }
            File.WriteAllLines(Path.Combine(staging, LogFileName), log);
            File.WriteAllText(Path.Combine(staging, SummaryFileName), summary.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
            File.WriteAllText(Path.Combine(staging, "README.md"), Evaluation.ModelCard.Write(staging, new Evaluation.ModelCardOptions()));
        });
    }

    private static string Json(Dictionary<string, object?> values) =>
        JsonSerializer.Serialize(values.ToDictionary(p => p.Key, p => p.Value is double d && !double.IsFinite(d) ? null : p.Value));
}
