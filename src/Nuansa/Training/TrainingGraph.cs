using Nuansa.Checkpoints;
using Nuansa.Graphs;
using Nuansa.Graphs.Autodiff;
using Nuansa.Models;

namespace Nuansa.Training;

/// <summary>
/// One graph that runs the forward pass, the loss and the gradient of every parameter, for ONNX Runtime to run
/// once per batch. Parameters are graph inputs (HF names and layouts); the batch comes as <c>input_ids</c>,
/// <c>attention_mask</c> (and <c>token_type_ids</c>), <c>labels</c> and <c>class_weights</c>.
/// Outputs: <c>loss</c>, <c>logits</c>, and <c>grad.&lt;parameter&gt;</c> for each parameter.
/// </summary>
internal sealed class TrainingGraph
{
    private TrainingGraph(Graph graph, IReadOnlyList<Parameter> parameters, IReadOnlyDictionary<string, float[]> initial, ModelConfig config, IReadOnlyList<DropoutMask> masks,
        bool hasGradients)
    {
        HasGradients = hasGradients;
        Graph = graph;
        Parameters = parameters;
        InitialValues = initial;
        Config = config;
        DropoutMasks = masks;
    }

    public ModelConfig Config { get; }

    /// <summary>False for an evaluation graph (loss and logits only).</summary>
    public bool HasGradients { get; }

    /// <summary>The dropout layers, whose masks are inputs drawn per step (see <see cref="DropoutMaskSampler"/>).</summary>
    public IReadOnlyList<DropoutMask> DropoutMasks { get; }

    public Graph Graph { get; }

    /// <summary>The trained parameters in HF's <c>named_parameters()</c> order.</summary>
    public IReadOnlyList<Parameter> Parameters { get; }

    /// <summary>
    /// Each parameter's values as read from the checkpoint (empty for an evaluation graph, which is fed the trained
    /// values). The trainer trains these arrays in place.
    /// </summary>
    public IReadOnlyDictionary<string, float[]> InitialValues { get; }

    public static string GradientName(string parameter) => $"grad.{parameter}";

    /// <summary>Single-label classification with (optionally class-weighted) cross-entropy, as <c>torch.nn.CrossEntropyLoss(weight=...)</c>.</summary>
    public static TrainingGraph ForCrossEntropy(ModelConfig config, WeightStore store) => Build(config, store, new LossOptions());

    /// <summary>A training graph with the given loss (see <see cref="LossOptions"/> for the inputs each loss takes).</summary>
    /// <param name="config">The model.</param>
    /// <param name="store">Its weights, the parameters' initial values.</param>
    /// <param name="loss">The objective.</param>
    /// <param name="evaluation">
    /// The evaluation graph: the same forward pass and loss, with dropout off and no gradients, so the evaluation loss is
    /// the training objective (focal, label smoothing, class weights included).
    /// </param>
    public static TrainingGraph Build(ModelConfig config, WeightStore store, LossOptions loss, bool evaluation = false)
    {
        var g = new GraphBuilder("training");
        var architecture = Architecture.For(config);
        var weights = new ModelWeights(store, architecture.BasePrefix, trainable: true, readValues: !evaluation);
        var logits = architecture.Forward(g, weights, config, new GraphOptions { Training = !evaluation });
        var lossValue = loss.Kind switch
        {
            LossKind.CrossEntropy or LossKind.Focal => SingleLabelLoss(g, logits, config.NumLabels, loss),
            LossKind.BinaryCrossEntropy => MultiLabelLoss(g, logits, config.NumLabels),
            LossKind.MultiTaskCrossEntropy => MultiTaskLoss(g, logits, config.NumLabels, loss.TaskSizes),
            _ => throw new ArgumentOutOfRangeException(nameof(loss)),
        };
        return Finish(g, weights, config, logits, lossValue, gradients: !evaluation);
    }

    // Σᵢ w[yᵢ]·ℓᵢ / Σᵢ w[yᵢ] with ℓ the (smoothed) negative log-likelihood or the focal term, as torch computes them.
    private static string SingleLabelLoss(GraphBuilder g, string logits, int labels, LossOptions loss)
    {
        var target = g.Input("labels", ElementType.Int64, "batch");
        var classWeights = g.Input("class_weights", ElementType.Float, labels);
        var logProbs = g.Op("LogSoftmax", [logits], new() { ["axis"] = -1 });
        var picked = g.Reshape(g.Op("GatherElements", [logProbs, g.Unsqueeze(target, 1)], new() { ["axis"] = 1 }), -1);
        var sampleWeights = g.Gather(classWeights, target);
        var normalizer = g.ReduceSum(sampleWeights, [0], keepDims: false);
        var perSample = g.Op("Neg", [picked]);
        if (loss.Kind == LossKind.Focal)
        {
            // (1 − p_y)^γ · (−log p_y)
            var oneMinus = g.Sub(g.Scalar(1f), g.Op("Exp", [picked]));
            perSample = g.Mul(g.Op("Pow", [oneMinus, g.Scalar((float)loss.FocalGamma)]), perSample);
        }
        var nll = g.Div(g.ReduceSum(g.Mul(perSample, sampleWeights), [0], keepDims: false), normalizer);
        if (loss.LabelSmoothing <= 0)
            return nll;
        // torch: (1 − ε)·nll + ε/C · Σᵢ Σ_c w_c·(−log p_ic) / Σᵢ w[yᵢ]
        var smooth = g.Op("Neg", [g.ReduceSum(g.Mul(logProbs, classWeights), [0, 1], keepDims: false)]);
        var epsilon = (float)loss.LabelSmoothing;
        return g.Add(g.Mul(g.Scalar(1f - epsilon), nll), g.Mul(g.Scalar(epsilon / labels), g.Div(smooth, normalizer)));
    }

    // torch.nn.BCEWithLogitsLoss(pos_weight): mean over all elements of pw·y·softplus(−x) + (1 − y)·softplus(x).
    private static string MultiLabelLoss(GraphBuilder g, string logits, int labels)
    {
        var targets = g.Input("targets", ElementType.Float, "batch", labels);
        var positiveWeight = g.Input("pos_weight", ElementType.Float, labels);
        var positive = g.Mul(g.Mul(positiveWeight, targets), g.Op("Softplus", [g.Op("Neg", [logits])]));
        var negative = g.Mul(g.Sub(g.Scalar(1f), targets), g.Op("Softplus", [logits]));
        return g.ReduceMean(g.Add(positive, negative), [0, 1], keepDims: false);
    }

    // The politics card's loss: the mean over tasks of each task's cross-entropy, each as torch's CrossEntropyLoss
    // with that task's slice of the class weights (Σᵢ w[yᵢ]·ℓᵢ / Σᵢ w[yᵢ]); tasks may differ in size.
    private static string MultiTaskLoss(GraphBuilder g, string logits, int labels, IReadOnlyList<int> sizes)
    {
        if (sizes.Count == 0 || sizes.Any(n => n < 1) || sizes.Sum() != labels)
            throw new NuansaException($"Task sizes [{string.Join(", ", sizes)}] do not split the model's {labels} outputs.");
        var target = g.Input("labels", ElementType.Int64, "batch", sizes.Count);
        var classWeights = g.Input("class_weights", ElementType.Float, labels);
        var offset = 0;
        string? total = null;
        for (var t = 0; t < sizes.Count; t++)
        {
            var slice = g.Op("Slice", [logits, g.Ints(offset), g.Ints(offset + sizes[t]), g.Ints(1)]);
            var logProbs = g.Op("LogSoftmax", [slice], new() { ["axis"] = -1 });
            var y = g.Gather(target, g.ScalarInt(t), axis: 1);
            var picked = g.Reshape(g.Op("GatherElements", [logProbs, g.Unsqueeze(y, 1)], new() { ["axis"] = 1 }), -1);
            var weights = g.Gather(classWeights, g.Add(y, g.ScalarInt(offset)));
            var taskLoss = g.Div(g.Op("Neg", [g.ReduceSum(g.Mul(picked, weights), [0], keepDims: false)]), g.ReduceSum(weights, [0], keepDims: false));
            total = total == null ? taskLoss : g.Add(total, taskLoss);
            offset += sizes[t];
        }
        return g.Div(total!, g.Scalar(sizes.Count));
    }

    private static TrainingGraph Finish(GraphBuilder g, ModelWeights weights, ModelConfig config, string logits, string loss, bool gradients)
    {
        // The layout the forward pass recorded as it asked for each weight.
        var parameters = weights.Parameters;
        g.Output(loss, "loss", ElementType.Float);
        g.Output(logits, "logits", ElementType.Float, "batch", config.NumLabels);
        if (!gradients)
            return new TrainingGraph(g.Build(), parameters, weights.Inputs, config, weights.DropoutMasks, hasGradients: false);
        var grads = Autodiff.AddGradients(g, loss, [.. parameters.Select(p => p.Name)]);

        foreach (var p in parameters)
        {
            var grad = grads[p.Name];
            if (p.PaddingRow is { } row && row >= 0 && row < p.Shape[0])
            {
                // nn.Embedding(padding_idx=...) never updates the padding row: its gradient is zero.
                var keep = new float[p.Shape[0]];
                Array.Fill(keep, 1f);
                keep[row] = 0f;
                grad = g.Mul(grad, g.Initializer(TensorData.Float($"padding_mask.{p.Name}", [p.Shape[0], 1], keep)));
            }
            g.Output(grad, GradientName(p.Name), ElementType.Float, [.. p.Shape.Select(d => (Dim)d)]);
        }
        return new TrainingGraph(g.Build(), parameters, weights.Inputs, config, weights.DropoutMasks, hasGradients: true);
    }
}
