using System.CommandLine;
using System.Globalization;
using Nuansa.Training;
using Nuansa.Reporting;

namespace Nuansa.Cli;

/// <summary><c>nuansa train --model DIR --train F [--validation F] --output DIR ...</c> with HF TrainingArguments' option names.</summary>
internal static class TrainCommand
{
    public static Command Create()
    {
        var d = new TrainingOptions();
        var model = new Option<string>("--model", "-m") { Description = "Checkpoint folder to start from (e.g. made by nuansa init).", Required = true };
        var train = new Option<string>("--train") { Description = "Training data: CSV, TSV or JSON Lines.", Required = true };
        var validation = new Option<string?>("--validation") { Description = "Validation data (without it and without --validation-split, nothing is evaluated, as in HF)." };
        var output = new Option<string>("--output", "-o") { Description = "Folder for the fine-tuned checkpoint (must not exist or be empty).", Required = true };
        var lr = new Option<double>("--learning-rate") { DefaultValueFactory = _ => d.LearningRate };
        var epochs = new Option<double>("--num-train-epochs") { DefaultValueFactory = _ => d.NumTrainEpochs };
        var batch = new Option<int>("--per-device-train-batch-size") { DefaultValueFactory = _ => d.PerDeviceTrainBatchSize };
        var evalBatch = new Option<int>("--per-device-eval-batch-size") { DefaultValueFactory = _ => d.PerDeviceEvalBatchSize };
        var accumulation = new Option<int>("--gradient-accumulation-steps") { DefaultValueFactory = _ => d.GradientAccumulationSteps };
        var warmupRatio = new Option<double>("--warmup-ratio") { DefaultValueFactory = _ => d.WarmupRatio };
        var warmupSteps = new Option<int>("--warmup-steps") { DefaultValueFactory = _ => d.WarmupSteps };
        var weightDecay = new Option<double>("--weight-decay") { DefaultValueFactory = _ => d.WeightDecay };
        var maxGradNorm = new Option<double>("--max-grad-norm") { DefaultValueFactory = _ => d.MaxGradNorm };
        var scheduler = new Option<string>("--lr-scheduler-type") { Description = "linear, cosine, constant or constant_with_warmup.", DefaultValueFactory = _ => "linear" };
        scheduler.AcceptOnlyFromAmong("linear", "cosine", "constant", "constant_with_warmup");
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => d.Seed };
        var metric = new Option<string>("--metric-for-best-model") { Description = "loss, accuracy, f1_macro, f1_weighted, f1_micro, precision_macro, recall_macro or mcc.", DefaultValueFactory = _ => d.MetricForBestModel };
        var patience = new Option<int?>("--early-stopping-patience") { Description = "Evaluations without improvement before stopping (with --load-best-model-at-end)." };
        var loadBest = new Option<bool>("--load-best-model-at-end") { Description = "Save the weights of the best evaluation (by --metric-for-best-model), not the last step's." };
        var loggingSteps = new Option<int>("--logging-steps") { Description = "When not on a terminal: a progress line every N steps (and at least every 30 s).", DefaultValueFactory = _ => 500 };
        var evalSteps = new Option<int?>("--eval-steps") { Description = "Evaluate every N optimizer steps (default: each epoch)." };
        var maxSteps = new Option<int?>("--max-steps") { Description = "Stop after N optimizer steps (overrides epochs)." };
        var noShuffle = new Option<bool>("--no-shuffle") { Description = "Keep the data's order: batches are consecutive rows." };
        var classWeights = new Option<string?>("--class-weights") { Description = "Comma-separated weights in label-id order, or 'balanced'." };
        var maxLength = new Option<int?>("--max-length") { Description = "Token limit including special tokens (default: the model's)." };
        var validationSplit = new Option<double>("--validation-split") { Description = "Without --validation: hold out this share of --train, stratified by label, for evaluation (default 0: none).", DefaultValueFactory = _ => d.ValidationSplit };
        var groupByLength = new Option<bool>("--group-by-length") { Description = "Batch examples of similar length together (HF's group_by_length): less padding, faster steps." };
        var beta1 = new Option<double>("--adam-beta1") { DefaultValueFactory = _ => d.AdamBeta1 };
        var beta2 = new Option<double>("--adam-beta2") { DefaultValueFactory = _ => d.AdamBeta2 };
        var adamEpsilon = new Option<double>("--adam-epsilon") { DefaultValueFactory = _ => d.AdamEpsilon };
        var textColumn = new Option<string>("--text-column") { DefaultValueFactory = _ => d.TextColumn };
        var pairColumn = CliParsing.PairColumnOption();
        var labelColumn = new Option<string>("--label-column") { DefaultValueFactory = _ => d.LabelColumn };
        var threads = new Option<int>("--threads") { DefaultValueFactory = _ => 0 };
        var loss = new Option<string>("--loss") { Description = "Single-label loss: cross_entropy or focal.", DefaultValueFactory = _ => "cross_entropy" };
        loss.AcceptOnlyFromAmong("cross_entropy", "focal");
        var focalGamma = new Option<double>("--focal-gamma") { DefaultValueFactory = _ => d.FocalGamma };
        var labelSmoothing = new Option<double>("--label-smoothing-factor") { Description = "Label smoothing of the cross-entropy (HF's name).", DefaultValueFactory = _ => 0 };
        var posWeight = new Option<string?>("--pos-weight") { Description = "Multi-label: comma-separated positive weights in label-id order." };
        var tasks = new Option<string?>("--tasks") { Description = "Multi-task: comma-separated task names (one label column each), with --task-labels." };
        var taskLabels = new Option<string?>("--task-labels") { Description = "Multi-task: one comma-separated label list for every task, or one per task separated by ';'." };
        var checkpointDir = new Option<string?>("--checkpoint-dir") { Description = "Where each epoch's checkpoint goes (default: <output>-checkpoints)." };
        var noCheckpoints = new Option<bool>("--no-checkpoints") { Description = "Save no per-epoch checkpoints." };
        var saveTotalLimit = new Option<int?>("--save-total-limit") { Description = "Keep only the N newest checkpoints (each holds the best weights so far)." };
        var resume = new Option<string?>("--resume-from-checkpoint") { Description = "Continue exactly from a checkpoint-<step> folder of an earlier run." };
        var oversample = new Option<bool>("--oversample") { Description = "Single-label: repeat examples of smaller classes up to the largest class's size." };
        var absentLabel = new Option<string?>("--absent-label") { Description = "Multi-task: the label of an empty task cell (default: each task's first label)." };
        var labelsOption = new Option<string?>("--labels") { Description = "Comma-separated labels in id order, for a base checkpoint (e.g. bert-base-uncased) whose classification head is then initialized, as HF's num_labels." };
        var lowercase = new Option<bool>("--lowercase") { Description = "Preprocessing: lower-case texts before tokenizing (saved with the model)." };
        var maxRepeat = new Option<int?>("--max-repeat") { Description = "Preprocessing: cut runs of one repeated character to N (\"bagusssss\" → \"baguss\" with 2)." };
        var replacements = new Option<string?>("--replacements") { Description = "Preprocessing: TSV (word<TAB>replacement) or JSON file of slang and abbreviations to replace word by word." };

        var command = new Command("train", "Fine-tune a sequence classifier and write a Hugging Face checkpoint.")
        {
            model, train, validation, output, lr, epochs, batch, evalBatch, accumulation, warmupRatio, warmupSteps, weightDecay, beta1, beta2, adamEpsilon, maxGradNorm,
            scheduler, seed, metric, patience, loadBest, loggingSteps, evalSteps, maxSteps, noShuffle, groupByLength, classWeights, maxLength, validationSplit, textColumn, pairColumn, labelColumn, threads,
            loss, focalGamma, labelSmoothing, posWeight, tasks, taskLabels, absentLabel, oversample, checkpointDir, noCheckpoints, saveTotalLimit, resume,
            lowercase, maxRepeat, replacements, labelsOption,
        };
        command.SetAction(parse => Program.Guard(parse, stdout =>
        {
            var weights = parse.GetValue(classWeights);
            var options = new TrainingOptions
            {
                LearningRate = parse.GetValue(lr),
                NumTrainEpochs = parse.GetValue(epochs),
                PerDeviceTrainBatchSize = parse.GetValue(batch),
                PerDeviceEvalBatchSize = parse.GetValue(evalBatch),
                GradientAccumulationSteps = parse.GetValue(accumulation),
                WarmupRatio = parse.GetValue(warmupRatio),
                WarmupSteps = parse.GetValue(warmupSteps),
                WeightDecay = parse.GetValue(weightDecay),
                AdamBeta1 = parse.GetValue(beta1),
                AdamBeta2 = parse.GetValue(beta2),
                AdamEpsilon = parse.GetValue(adamEpsilon),
                MaxGradNorm = parse.GetValue(maxGradNorm),
                LrSchedulerType = parse.GetValue(scheduler) switch
                {
                    "cosine" => ScheduleType.Cosine, "constant" => ScheduleType.Constant, "constant_with_warmup" => ScheduleType.ConstantWithWarmup, _ => ScheduleType.Linear,
                },
                Seed = parse.GetValue(seed),
                MetricForBestModel = parse.GetValue(metric)!,
                EarlyStoppingPatience = parse.GetValue(patience),
                LoadBestModelAtEnd = parse.GetValue(loadBest),
                EvalSteps = parse.GetValue(evalSteps),
                MaxSteps = parse.GetValue(maxSteps),
                Shuffle = !parse.GetValue(noShuffle),
                GroupByLength = parse.GetValue(groupByLength),
                BalancedClassWeights = weights == "balanced",
                ClassWeights = weights is null or "balanced" ? null : ParseWeights(weights, "--class-weights"),
                MaxLength = parse.GetValue(maxLength),
                ValidationSplit = parse.GetValue(validationSplit),
                TextColumn = parse.GetValue(textColumn)!,
                PairColumn = parse.GetValue(pairColumn),
                LabelColumn = parse.GetValue(labelColumn)!,
                Threads = parse.GetValue(threads),
                Loss = parse.GetValue(loss) == "focal" ? LossKind.Focal : LossKind.CrossEntropy,
                FocalGamma = parse.GetValue(focalGamma),
                LabelSmoothing = parse.GetValue(labelSmoothing),
                PosWeight = parse.GetValue(posWeight) is { } pw ? ParseWeights(pw, "--pos-weight") : null,
                Tasks = CliParsing.Tasks(parse.GetValue(tasks), parse.GetValue(taskLabels)),
                AbsentLabel = parse.GetValue(absentLabel),
                Oversample = parse.GetValue(oversample),
                CheckpointDirectory = parse.GetValue(noCheckpoints) ? "" : parse.GetValue(checkpointDir),
                SaveTotalLimit = parse.GetValue(saveTotalLimit),
                ResumeFromCheckpoint = parse.GetValue(resume),
                Preprocessing = Preprocessing(parse.GetValue(lowercase), parse.GetValue(maxRepeat), parse.GetValue(replacements)),
                Labels = parse.GetValue(labelsOption) is { } l ? CliParsing.List(l) : null,
            };
            var error = parse.InvocationConfiguration.Error;
            var terminal = error == Console.Error && !Console.IsErrorRedirected;
            var progress = new TrainingConsole(stdout, error, terminal, parse.GetValue(loggingSteps), options.MetricForBestModel);
            // The output is checked before a Hub model is downloaded (and the trainer checks it again).
            AtomicFolder.CheckWritable(parse.GetValue(output)!);
            TrainingResult result;
            try
            {
                var data = TableReader.ReadData(parse.GetValue(train)!);
                var held = parse.GetValue(validation) is { } v ? TableReader.ReadData(v) : null;
                result = Trainer.Train(CliParsing.Model(parse, parse.GetValue(model)!), data, held, parse.GetValue(output)!, options, progress);
            }
            finally
            {
                progress.Finish();
            }
            var bestText = result.Best is { } best
                ? FormattableString.Invariant($" (best {options.MetricForBestModel} {best.Metrics[options.MetricForBestModel]:0.0000} at step {best.Step}; ") +
                  (options.LoadBestModelAtEnd ? "its weights saved)" : "the last step's weights saved)")
                : "";
            stdout.WriteLine(FormattableString.Invariant(
                $"trained {result.Steps} steps in {result.Duration.TotalSeconds:0.0} s{(result.StoppedEarly ? " (stopped early)" : "")}; wrote {parse.GetValue(output)}{bestText}"));
            return 0;
        }));
        return command;
    }

    private static float[] ParseWeights(string text, string option)
    {
        try
        {
            return [.. text.Split(',').Select(w => float.Parse(w, NumberStyles.Float, CultureInfo.InvariantCulture))];
        }
        catch (FormatException)
        {
            throw new NuansaException($"{option} must be numbers separated by commas, not '{text}'.");
        }
    }

    // Any of the preprocessing options replaces the model's own preprocessing; none keeps it.
    private static Data.TextPreprocessing? Preprocessing(bool lowercase, int? maxRepeat, string? replacements)
    {
        if (!lowercase && maxRepeat == null && replacements == null)
            return null;
        if (maxRepeat is < 1)
            throw new NuansaException("--max-repeat must be at least 1.");
        return new Data.TextPreprocessing
        {
            Lowercase = lowercase,
            MaxRepeat = maxRepeat,
            Replacements = replacements == null ? new Dictionary<string, string>() : Data.TextPreprocessing.ReadReplacements(replacements),
        };
    }
}
