using System.Diagnostics;
using Nuansa.Checkpoints;
using Nuansa.Data;
using Nuansa.Tokenization;

namespace Nuansa.Training;

/// <summary>
/// Fine-tunes a single-label sequence classifier as HF's <c>Trainer</c> does: AdamW with HF's parameter groups,
/// a warm-up schedule, gradient accumulation and clipping, evaluation with early stopping, the best weights
/// restored at the end when asked (<c>load_best_model_at_end</c>), and an HF checkpoint folder as output (with a JSON Lines training log).
/// </summary>
public static partial class Trainer
{
    /// <summary>The file in the output folder with one JSON line per logged step and evaluation.</summary>
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
        // Choices that need evaluation data fail now, not after training (HF's Trainer asks for an eval_dataset too).
        if (validation == null && options.ValidationSplit == 0 && (options.LoadBestModelAtEnd || options.EvalSteps != null))
            throw new NuansaException("--load-best-model-at-end, --early-stopping-patience and --eval-steps need evaluation data: give --validation, or hold out a share with --validation-split.");
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
        TrainingGraph graph, evaluationGraph;
        IReadOnlyList<string> initialized;
        // The checkpoint is unmapped once the graphs are built: its values live on in the graph's arrays.
        using (var store = WeightStore.Open(modelDirectory))
        {
            initialized = ClassificationHead.InitializeMissing(config, store, options.Seed);
            graph = TrainingGraph.Build(config, store, task.Loss);
            // The evaluation loss is the training objective: the same graph, dropout off, no gradients.
            evaluationGraph = TrainingGraph.Build(config, store, task.Loss, evaluation: true);
        }
        // The outputs' room is checked before the first step, not found missing an epoch later.
        var weightBytes = 4L * graph.Parameters.Sum(p => p.ElementCount);
        OutputPath.CheckSpace(Path.GetFullPath(outputDirectory), weightBytes, "the trained model");
        if (checkpoints.Length > 0)
            OutputPath.CheckSpace(Path.GetFullPath(checkpoints), 3 * weightBytes, "a checkpoint (the weights and AdamW's two moments)");
        using var session = new TrainingSession(graph, options.Threads, options.Seed);
        using var evaluator = new TrainingSession(evaluationGraph, options.Threads);
        // The checkpoint's values, trained in place (no second copy of the model).
        var parameters = graph.Parameters.ToDictionary(p => p.Name, p => graph.InitialValues[p.Name]);
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
                MakeBatches(train, options.PerDeviceTrainBatchSize, options.Shuffle ? random : null, tokenizer.PadTokenId, options.GroupByLength);
        }

        progress?.Report(new TrainingStarted(step, totalSteps, train.Count, validation.Count, initialized));
        var startStep = step;
        // Gradient buffers written in place by every step (micro-batch gradients too when accumulating).
        var sum = graph.Parameters.Select(p => new float[p.ElementCount]).ToArray();
        var micro = options.GradientAccumulationSteps > 1 ? graph.Parameters.Select(p => new float[p.ElementCount]).ToArray() : null;
        while (step < totalSteps && !stoppedEarly)
        {
            var batches = MakeBatches(train, options.PerDeviceTrainBatchSize, options.Shuffle ? random : null, tokenizer.PadTokenId, options.GroupByLength);
            if (batches.Count < options.GradientAccumulationSteps)
                throw new NuansaException($"{train.Count} training examples make {batches.Count} batches, fewer than the {options.GradientAccumulationSteps} gradient accumulation steps.");
            for (var b = 0; b + options.GradientAccumulationSteps <= batches.Count && step < totalSteps; b += options.GradientAccumulationSteps)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var stepLoss = Gradients(session, batches, b, options.GradientAccumulationSteps, parameters, classWeights, step, sum, micro, ref tokens);
                step++;
                var norm = options.MaxGradNorm > 0 ? GradientClipping.ClipByGlobalNorm(sum, options.MaxGradNorm) : double.NaN;
                var lr = schedule.LearningRate(options.LearningRate, step);
                optimizer.Update(graph.Parameters.Select((p, i) => (p.Name, parameters[p.Name], sum[i], p.Decays)), lr);
                var epoch = epochIndex + (double)(b + options.GradientAccumulationSteps) / batches.Count;
                log.Add(Json(new() { ["step"] = step, ["epoch"] = Math.Round(epoch, 4), ["loss"] = stepLoss, ["learning_rate"] = lr, ["grad_norm"] = norm }));
                var perStep = clock.Elapsed / (step - startStep);
                progress?.Report(new TrainingProgress(step, totalSteps, epoch, stepLoss, lr, tokens / clock.Elapsed.TotalSeconds, clock.Elapsed, perStep * (totalSteps - step)));

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
        var summary = Summary(modelDirectory, trainSource, validationSource, train, validation, task, options, step, epochIndex, best, savedStep, savedEvaluation, clock.Elapsed);
        SaveCheckpoint(modelDirectory, outputDirectory, config, graph, final, log, tasks, summary, options.Preprocessing);
        return new TrainingResult(step, epochIndex, evaluations, best, stoppedEarly, clock.Elapsed) { InitializedHead = initialized };
    }

    // One optimizer step's gradients into sum: HF divides each micro-batch loss by the accumulation steps, so the
    // gradients are averaged; micro-batches of one step draw different dropout masks (the step number is scaled).
    private static double Gradients(TrainingSession session, List<TrainingBatch> batches, int first, int accumulation, Dictionary<string, float[]> parameters,
        float[] lossWeights, int step, float[][] sum, float[][]? micro, ref long tokens)
    {
        var loss = 0.0;
        for (var a = 0; a < accumulation; a++)
        {
            var batch = batches[first + a];
            var result = session.Run(batch, parameters, lossWeights, step * accumulation + a + 1, a == 0 ? sum : micro!);
            tokens += batch.AttentionMask.Sum();
            loss += result.Loss / accumulation;
            if (a > 0)
            {
                for (var k = 0; k < sum.Length; k++)
                    System.Numerics.Tensors.TensorPrimitives.Add(sum[k], micro![k], sum[k]);
            }
        }
        if (accumulation > 1)
        {
            foreach (var g in sum)
                System.Numerics.Tensors.TensorPrimitives.Multiply(g, 1f / accumulation, g);
        }
        return loss;
    }

    private static void Validate(TrainingOptions o)
    {
        if (o.PerDeviceTrainBatchSize < 1 || o.PerDeviceEvalBatchSize < 1 || o.GradientAccumulationSteps < 1)
            throw new NuansaException("Batch sizes and gradient accumulation steps must be at least 1.");
        if (o.LearningRate <= 0 || o.NumTrainEpochs <= 0 && o.MaxSteps == null)
            throw new NuansaException("The learning rate and the number of epochs must be positive.");
        if (o.ValidationSplit is < 0 or >= 1)
            throw new NuansaException("The validation split must be in [0, 1).");
        if (o.PairColumn is { Length: 0 } || o.TextColumn.Length == 0 || o.LabelColumn.Length == 0)
            throw new NuansaException("A column name must not be empty.");
        if (o.AdamBeta1 is < 0 or >= 1 || o.AdamBeta2 is < 0 or >= 1 || o.AdamEpsilon < 0)
            throw new NuansaException("AdamW's betas must be in [0, 1) and its epsilon at least 0.");
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

}
