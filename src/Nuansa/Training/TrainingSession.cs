using Microsoft.ML.OnnxRuntime;
using Nuansa.Graphs.Onnx;

namespace Nuansa.Training;

/// <summary>
/// One padded batch of encoded inputs with their labels: label ids ([rows], or [rows × tasks] for multi-task), or
/// for multi-label 0/1 <paramref name="Targets"/> ([rows × labels]).
/// </summary>
internal sealed record TrainingBatch(long[] InputIds, long[] AttentionMask, long[] TokenTypeIds, long[] Labels, int Rows, int Length, float[]? Targets = null);

/// <summary>The result of one forward and backward pass.</summary>
internal sealed record StepResult(float Loss, float[] Logits, IReadOnlyList<float[]> Gradients);

/// <summary>
/// Runs a <see cref="TrainingGraph"/> on ONNX Runtime: feeds the current parameter values and a batch, returns
/// the loss, logits and one gradient per parameter (in <see cref="TrainingGraph.Parameters"/> order).
/// One step at a time: the session reuses its dropout-mask buffers between runs, so it is not for concurrent use.
/// </summary>
internal sealed class TrainingSession : IDisposable
{
    private readonly OnnxSession _owner;
    private readonly InferenceSession _session;
    private readonly bool[][] _masks;

    /// <param name="graph">The training graph.</param>
    /// <param name="threads">ONNX Runtime threads; 0 uses every core.</param>
    /// <param name="seed">Seed of the dropout masks (with the step number).</param>
    public TrainingSession(TrainingGraph graph, int threads = 0, int seed = 42)
    {
        Graph = graph;
        Seed = seed;
        _owner = CreateSession(graph.Graph, threads);
        _session = _owner.Session;
        _masks = [.. graph.DropoutMasks.Select(_ => Array.Empty<bool>())];
        UsesTokenTypes = _session.InputMetadata.ContainsKey("token_type_ids");
    }

    public TrainingGraph Graph { get; }
    public int Seed { get; }
    public bool UsesTokenTypes { get; }

    /// <param name="batch">The inputs and labels.</param>
    /// <param name="parameters">Current values of every parameter.</param>
    /// <param name="lossWeights">Class weights (cross-entropy, focal) or positive weights (binary cross-entropy), one per label.</param>
    /// <param name="step">The optimizer step (1-based) this pass belongs to; it selects the dropout masks.</param>
    public StepResult Run(TrainingBatch batch, IReadOnlyDictionary<string, float[]> parameters, float[] lossWeights, int step = 1) =>
        Run(batch, parameters, lossWeights, step, [.. Graph.Parameters.Select(p => new float[p.ElementCount])]);

    /// <summary>
    /// As <see cref="Run(TrainingBatch, IReadOnlyDictionary{string, float[]}, float[], int)"/>, with ONNX Runtime writing
    /// each gradient straight into <paramref name="gradients"/> (one buffer per parameter, reused across steps by the
    /// trainer so that a step allocates no parameter-sized memory).
    /// </summary>
    public StepResult Run(TrainingBatch batch, IReadOnlyDictionary<string, float[]> parameters, float[] lossWeights, int step, float[][] gradients)
    {
        if (gradients.Length != Graph.Parameters.Count)
            throw new ArgumentException($"Expected {Graph.Parameters.Count} gradient buffers, got {gradients.Length}.", nameof(gradients));
        if (!Graph.HasGradients)
            throw new InvalidOperationException("An evaluation graph has no gradients: use Evaluate.");
        var feeds = Feeds(batch, parameters, lossWeights, step);
        var gradientValues = new List<OrtValue>(gradients.Length);
        try
        {
            using var binding = _session.CreateIoBinding();
            foreach (var (name, value) in feeds)
                binding.BindInput(name, value);
            binding.BindOutputToDevice("loss", OrtMemoryInfo.DefaultInstance);
            binding.BindOutputToDevice("logits", OrtMemoryInfo.DefaultInstance);
            for (var i = 0; i < gradients.Length; i++)
            {
                var p = Graph.Parameters[i];
                if (gradients[i].Length != p.ElementCount)
                    throw new ArgumentException($"The gradient buffer of '{p.Name}' holds {gradients[i].Length} values, not {p.ElementCount}.", nameof(gradients));
                gradientValues.Add(OrtValue.CreateTensorValueFromMemory(gradients[i], p.Shape));
                binding.BindOutput(TrainingGraph.GradientName(p.Name), gradientValues[^1]);
            }
            using var runOptions = new RunOptions();
            _session.RunWithBinding(runOptions, binding);
            using var outputs = binding.GetOutputValues();
            return new StepResult(outputs[0].GetTensorDataAsSpan<float>()[0], outputs[1].GetTensorDataAsSpan<float>().ToArray(), gradients);
        }
        finally
        {
            foreach (var v in feeds.Values.Concat(gradientValues))
                v.Dispose();
        }
    }

    /// <summary>The loss (the training objective, dropout off) and logits of a batch, through an evaluation graph.</summary>
    public (float Loss, float[] Logits) Evaluate(TrainingBatch batch, IReadOnlyDictionary<string, float[]> parameters, float[] lossWeights)
    {
        var feeds = Feeds(batch, parameters, lossWeights, step: 0);
        try
        {
            using var runOptions = new RunOptions();
            using var results = _session.Run(runOptions, [.. feeds.Keys], [.. feeds.Values], ["loss", "logits"]);
            return (results[0].GetTensorDataAsSpan<float>()[0], results[1].GetTensorDataAsSpan<float>().ToArray());
        }
        finally
        {
            foreach (var v in feeds.Values)
                v.Dispose();
        }
    }

    // The batch, the parameters, the loss's weights and this step's dropout masks, as ONNX Runtime values.
    private Dictionary<string, OrtValue> Feeds(TrainingBatch batch, IReadOnlyDictionary<string, float[]> parameters, float[] lossWeights, int step)
    {
        var feeds = ModelFeeds(batch, Graph.Parameters, parameters, UsesTokenTypes);
        var inputs = _session.InputMetadata;
        if (inputs.ContainsKey("labels"))
        {
            long[] labelShape = inputs["labels"].Dimensions.Length == 2 ? [batch.Rows, batch.Labels.Length / batch.Rows] : [batch.Rows];
            feeds["labels"] = OrtValue.CreateTensorValueFromMemory(batch.Labels, labelShape);
        }
        if (inputs.ContainsKey("targets"))
        {
            var targets = batch.Targets ?? throw new ArgumentException("A multi-label batch needs targets.");
            feeds["targets"] = OrtValue.CreateTensorValueFromMemory(targets, [batch.Rows, targets.Length / batch.Rows]);
        }
        var weightsName = inputs.ContainsKey("pos_weight") ? "pos_weight" : "class_weights";
        if (inputs.ContainsKey(weightsName))
            feeds[weightsName] = OrtValue.CreateTensorValueFromMemory(lossWeights, [lossWeights.Length]);
        for (var k = 0; k < Graph.DropoutMasks.Count; k++)
        {
            var mask = Graph.DropoutMasks[k];
            var shape = DropoutMaskSampler.Shape(mask, batch.Rows, batch.Length);
            var size = (int)shape.Aggregate(1L, (a, b) => a * b);
            if (_masks[k].Length < size)
                _masks[k] = new bool[size];
            var values = _masks[k].AsMemory(0, size);
            DropoutMaskSampler.Fill(values, mask.Probability, Seed, step, k);
            feeds[mask.Name] = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, values, shape);
        }
        return feeds;
    }

    public void Dispose() => _owner.Dispose();

    internal static OnnxSession CreateSession(Graphs.Graph graph, int threads) =>
        new(graph, new SessionSettings { IntraOpThreads = threads, MemoryPattern = false, OwnThreads = true });

    /// <summary>The token inputs of a batch and the current value of every parameter, as ONNX Runtime values.</summary>
    internal static Dictionary<string, OrtValue> ModelFeeds(TrainingBatch batch, IEnumerable<Models.Parameter> parameters,
        IReadOnlyDictionary<string, float[]> values, bool tokenTypes)
    {
        long[] shape = [batch.Rows, batch.Length];
        var feeds = new Dictionary<string, OrtValue>
        {
            ["input_ids"] = OrtValue.CreateTensorValueFromMemory(batch.InputIds, shape),
            ["attention_mask"] = OrtValue.CreateTensorValueFromMemory(batch.AttentionMask, shape),
        };
        if (tokenTypes)
            feeds["token_type_ids"] = OrtValue.CreateTensorValueFromMemory(batch.TokenTypeIds, shape);
        foreach (var p in parameters)
            feeds[p.Name] = OrtValue.CreateTensorValueFromMemory(values[p.Name], p.Shape);
        return feeds;
    }
}
