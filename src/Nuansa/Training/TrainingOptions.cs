namespace Nuansa.Training;

/// <summary>
/// Fine-tuning options, named and defaulted as HF's <c>TrainingArguments</c> where it has the option.
/// </summary>
public sealed record TrainingOptions
{
    /// <summary>Peak learning rate of AdamW (HF's <c>learning_rate</c>).</summary>
    public double LearningRate { get; init; } = 5e-5;

    /// <summary>Passes over the training data; a fraction stops part-way through the last (<c>num_train_epochs</c>); <see cref="MaxSteps"/> overrides it.</summary>
    public double NumTrainEpochs { get; init; } = 3;

    /// <summary>Examples per forward and backward pass (<c>per_device_train_batch_size</c>).</summary>
    public int PerDeviceTrainBatchSize { get; init; } = 8;

    /// <summary>Examples per evaluation pass (<c>per_device_eval_batch_size</c>).</summary>
    public int PerDeviceEvalBatchSize { get; init; } = 8;

    /// <summary>Batches whose gradients are summed before each optimizer step (<c>gradient_accumulation_steps</c>).</summary>
    public int GradientAccumulationSteps { get; init; } = 1;

    /// <summary>Share of the optimizer steps spent warming the learning rate up from 0 (<c>warmup_ratio</c>).</summary>
    public double WarmupRatio { get; init; }

    /// <summary>Overrides <see cref="WarmupRatio"/> when above 0.</summary>
    public int WarmupSteps { get; init; }

    /// <summary>AdamW's decoupled weight decay, not applied to biases and LayerNorm weights (<c>weight_decay</c>).</summary>
    public double WeightDecay { get; init; }

    /// <summary>AdamW's first-moment decay (<c>adam_beta1</c>).</summary>
    public double AdamBeta1 { get; init; } = 0.9;

    /// <summary>AdamW's second-moment decay (<c>adam_beta2</c>).</summary>
    public double AdamBeta2 { get; init; } = 0.999;

    /// <summary>AdamW's epsilon (<c>adam_epsilon</c>).</summary>
    public double AdamEpsilon { get; init; } = 1e-8;

    /// <summary>Gradients are scaled down to this global L2 norm before each step; 0 turns clipping off (<c>max_grad_norm</c>).</summary>
    public double MaxGradNorm { get; init; } = 1.0;

    /// <summary>The learning-rate schedule (<c>lr_scheduler_type</c>).</summary>
    public ScheduleType LrSchedulerType { get; init; } = ScheduleType.Linear;

    /// <summary>Seed of the shuffling, dropout masks, validation split, oversampling and new head weights (<c>seed</c>).</summary>
    public int Seed { get; init; } = 42;

    /// <summary>Stop after this many optimizer steps (overrides epochs when set).</summary>
    public int? MaxSteps { get; init; }

    /// <summary>Metric that picks the best checkpoint: <c>loss</c> (lower is better) or a metric name such as <c>f1_macro</c>.</summary>
    public string MetricForBestModel
    {
        get;
        // HF writes evaluation metrics as eval_<name>; both spellings mean the same metric.
        init => field = value.StartsWith("eval_", StringComparison.Ordinal) ? value["eval_".Length..] : value;
    } = "loss";

    /// <summary>Evaluations without improvement before training stops; null never stops early. Needs <see cref="LoadBestModelAtEnd"/>, as HF's <c>EarlyStoppingCallback</c>.</summary>
    public int? EarlyStoppingPatience { get; init; }

    /// <summary>HF's <c>load_best_model_at_end</c>: save the weights of the best evaluation (by <see cref="MetricForBestModel"/>) instead of the last step's.</summary>
    public bool LoadBestModelAtEnd { get; init; }

    /// <summary>Evaluate every this many optimizer steps instead of at each epoch's end.</summary>
    public int? EvalSteps { get; init; }

    /// <summary>False keeps the data's order (batches as in the file), to reproduce another run step for step.</summary>
    public bool Shuffle { get; init; } = true;

    /// <summary>
    /// HF's <c>group_by_length</c>: batches of examples of similar length (drawn within shuffled windows of 50 batches),
    /// less padding and faster steps; off by default, as in HF, so batches are plain random draws.
    /// </summary>
    public bool GroupByLength { get; init; }

    /// <summary>Token limit including special tokens; null means the model's limit.</summary>
    public int? MaxLength { get; init; }

    /// <summary>Cross-entropy class weights in label-id order; null for none.</summary>
    public IReadOnlyList<float>? ClassWeights { get; init; }

    /// <summary>Weights inversely proportional to class frequency, as scikit-learn's <c>class_weight="balanced"</c>.</summary>
    public bool BalancedClassWeights { get; init; }

    /// <summary>
    /// Where a checkpoint is written at the end of each epoch (<c>checkpoint-&lt;step&gt;</c> folders); null uses
    /// <c>&lt;output&gt;-checkpoints</c>. An empty string saves none.
    /// </summary>
    public string? CheckpointDirectory { get; init; }

    /// <summary>HF's <c>save_total_limit</c>: keep only this many of the newest checkpoints (each holds the best weights so far, so nothing needed is lost); null keeps all.</summary>
    public int? SaveTotalLimit { get; init; }

    /// <summary>A checkpoint folder to continue from: the run goes on exactly as if it had not stopped.</summary>
    public string? ResumeFromCheckpoint { get; init; }

    /// <summary>Single-label: repeat randomly drawn examples of smaller classes until every class is as large as the largest.</summary>
    public bool Oversample { get; init; }

    /// <summary>
    /// Share of the training data held out for evaluation, stratified by label, when no validation data is given.
    /// 0 (the default, as HF's <c>Trainer</c> without an <c>eval_dataset</c>) trains on every row and evaluates nothing.
    /// </summary>
    public double ValidationSplit { get; init; }

    /// <summary>Column of the text.</summary>
    public string TextColumn { get; init; } = "text";

    /// <summary>
    /// Column of a pair's second text (the text column then holds the first segment, the context). A name given
    /// must be a column of the data; null reads <c>text_pair</c> where the data has it.
    /// </summary>
    public string? PairColumn { get; init; }

    /// <summary>Column of the label.</summary>
    public string LabelColumn { get; init; } = "label";

    /// <summary>ONNX Runtime threads; 0 uses every core.</summary>
    public int Threads { get; init; }

    /// <summary>The loss for single-label models: cross-entropy (default) or focal. Multi-label and multi-task models have their own.</summary>
    public LossKind Loss { get; init; } = LossKind.CrossEntropy;

    /// <summary>Focal loss: the focusing exponent γ of (1 − p)^γ.</summary>
    public double FocalGamma { get; init; } = 2.0;

    /// <summary>Share of each target's probability spread evenly over all labels (<c>label_smoothing_factor</c>).</summary>
    public double LabelSmoothing { get; init; }

    /// <summary>Multi-label: <c>pos_weight</c> per label (label-id order); null for ones.</summary>
    public IReadOnlyList<float>? PosWeight { get; init; }

    /// <summary>Multi-task: the tasks (overrides <c>nuansa_tasks</c> in the config); each task's labels come from the column named after it.</summary>
    public IReadOnlyList<Inference.TaskHead>? Tasks { get; init; }

    /// <summary>
    /// The labels, in id order, for a base checkpoint (or one whose head has another label set): the config gets them
    /// and the head is initialized anew, as HF's <c>from_pretrained(..., num_labels=...)</c>. Null keeps the config's.
    /// </summary>
    public IReadOnlyList<string>? Labels { get; init; }

    /// <summary>Text normalization before tokenizing (saved in the output's config); null keeps the model's own, if any.</summary>
    public Data.TextPreprocessing? Preprocessing { get; init; }

    /// <summary>Multi-task: the label an empty task cell means (default: the task's first label, e.g. "Unknown").</summary>
    public string? AbsentLabel { get; init; }
}

/// <summary>The training losses.</summary>
public enum LossKind
{
    /// <summary>Cross-entropy with optional class weights and label smoothing (single-label).</summary>
    CrossEntropy,

    /// <summary>Focal loss (1 − p)^γ · CE, class-weighted (single-label, for imbalanced data).</summary>
    Focal,

    /// <summary>Binary cross-entropy with logits and <c>pos_weight</c> (multi-label).</summary>
    BinaryCrossEntropy,

    /// <summary>Mean of the tasks' (optionally class-weighted) cross-entropies (multi-task).</summary>
    MultiTaskCrossEntropy,
}

/// <summary>
/// A loss and its settings. Graph inputs: <c>labels</c> [batch] and <c>class_weights</c> [labels] for
/// cross-entropy and focal; <c>targets</c> [batch, labels] (0/1) and <c>pos_weight</c> [labels] for binary
/// cross-entropy; <c>labels</c> [batch, tasks] and <c>class_weights</c> [labels] (task after task) for multi-task.
/// </summary>
internal sealed record LossOptions
{
    public LossKind Kind { get; init; } = LossKind.CrossEntropy;
    public double LabelSmoothing { get; init; }
    public double FocalGamma { get; init; } = 2.0;

    /// <summary>Multi-task: the number of labels of each task, in the order the logits lay them out.</summary>
    public IReadOnlyList<int> TaskSizes { get; init; } = [];
}

/// <summary>Something that happened during training, reported as it happens (HF's <c>TrainerCallback</c> events).</summary>
public abstract record TrainingEvent;

/// <summary>Training begins: its length, its data and the weights the checkpoint did not have.</summary>
public sealed record TrainingStarted(int Step, int TotalSteps, int TrainExamples, int ValidationExamples, IReadOnlyList<string> InitializedWeights) : TrainingEvent;

/// <summary>
/// An optimizer step: where training is and how it goes. <see cref="Loss"/> is this step's training loss (as HF, average it
/// over the steps between two log lines);
/// <see cref="Remaining"/> extrapolates this run's time per step (evaluations included).
/// </summary>
public sealed record TrainingProgress(int Step, int TotalSteps, double Epoch, double Loss, double LearningRate, double TokensPerSecond,
    TimeSpan Elapsed, TimeSpan Remaining) : TrainingEvent;

/// <summary>An evaluation on the validation data; <see cref="IsBest"/> when it is the best so far by the metric for the best model.</summary>
public sealed record TrainingEvaluated(EvaluationRecord Record, bool IsBest) : TrainingEvent;

/// <summary>A checkpoint written: its size, the size of every checkpoint kept, and the folders removed by the save limit.</summary>
public sealed record CheckpointSaved(string Path, long Bytes, long TotalBytes, int Kept, IReadOnlyList<string> Removed) : TrainingEvent;

/// <summary>One evaluation: its step, epoch and metrics (by name, including <c>loss</c>).</summary>
public sealed record EvaluationRecord(int Step, double Epoch, IReadOnlyDictionary<string, double> Metrics);

/// <summary>What a training run did.</summary>
public sealed record TrainingResult(int Steps, double Epochs, IReadOnlyList<EvaluationRecord> Evaluations, EvaluationRecord? Best, bool StoppedEarly, TimeSpan Duration)
{
    /// <summary>Head parameters the checkpoint lacked (or held for another label count) and training started from HF's initialization.</summary>
    public IReadOnlyList<string> InitializedHead { get; init; } = [];
}
