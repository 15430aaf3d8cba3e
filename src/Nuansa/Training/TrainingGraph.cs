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
public sealed class TrainingGraph
{
    private TrainingGraph(Graph graph, IReadOnlyList<Parameter> parameters, IReadOnlyDictionary<string, float[]> initial)
    {
        Graph = graph;
        Parameters = parameters;
        InitialValues = initial;
    }

    public Graph Graph { get; }

    /// <summary>The trained parameters in HF's <c>named_parameters()</c> order.</summary>
    public IReadOnlyList<Parameter> Parameters { get; }

    /// <summary>Each parameter's values as read from the checkpoint.</summary>
    public IReadOnlyDictionary<string, float[]> InitialValues { get; }

    public static string GradientName(string parameter) => $"grad.{parameter}";

    /// <summary>Single-label classification with (optionally class-weighted) cross-entropy, as <c>torch.nn.CrossEntropyLoss(weight=...)</c>.</summary>
    /// <param name="config">The model's config; its dropout probabilities are used in training mode.</param>
    /// <param name="store">The starting weights.</param>
    /// <param name="seed">Seed of the dropout masks.</param>
    public static TrainingGraph ForCrossEntropy(ModelConfig config, WeightStore store, int seed = 42)
    {
        var g = new GraphBuilder("training");
        var weights = new ModelWeights(store, SequenceClassifier.BasePrefix(config), trainable: true);
        var logits = SequenceClassifier.Forward(g, weights, config, new GraphOptions { Training = true, DropoutSeed = seed });
        var labels = g.Input("labels", ElementType.Int64, "batch");
        var classWeights = g.Input("class_weights", ElementType.Float, config.NumLabels);

        // loss = Σᵢ w[yᵢ] · (−log_softmax(logitsᵢ)[yᵢ]) / Σᵢ w[yᵢ]
        var logProbs = g.Op("LogSoftmax", [logits], new() { ["axis"] = -1 });
        var picked = g.Reshape(g.Op("GatherElements", [logProbs, g.Unsqueeze(labels, 1)], new() { ["axis"] = 1 }), -1);
        var sampleWeights = g.Gather(classWeights, labels);
        var total = g.ReduceSum(g.Mul(picked, sampleWeights), [0], keepDims: false);
        var loss = g.Div(g.Op("Neg", [total]), g.ReduceSum(sampleWeights, [0], keepDims: false));

        var parameters = ParameterLayout.For(config);
        var missing = parameters.FirstOrDefault(p => !weights.Inputs.ContainsKey(p.Name));
        if (missing != null)
            throw new InvalidOperationException($"The forward pass does not use parameter '{missing.Name}'.");
        var grads = Autodiff.AddGradients(g, loss, [.. parameters.Select(p => p.Name)]);

        g.Output(loss, "loss", ElementType.Float);
        g.Output(logits, "logits", ElementType.Float, "batch", config.NumLabels);
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
        return new TrainingGraph(g.Build(), parameters, weights.Inputs);
    }
}
