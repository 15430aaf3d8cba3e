using Microsoft.ML.OnnxRuntime;
using Nuansa.Checkpoints;
using Nuansa.Graphs;
using Nuansa.Models;

namespace Nuansa.Training;

/// <summary>Logits of a model whose weights are graph inputs: for evaluating the current weights during training.</summary>
internal sealed class ForwardSession : IDisposable
{
    private readonly InferenceSession _session;
    private readonly IReadOnlyList<Parameter> _parameters;

    public ForwardSession(ModelConfig config, WeightStore store, int threads = 0)
    {
        var g = new GraphBuilder("evaluation");
        var architecture = Architecture.For(config);
        var weights = new ModelWeights(store, architecture.BasePrefix, trainable: true);
        var logits = architecture.Forward(g, weights, config, new GraphOptions());
        g.Output(logits, "logits", ElementType.Float, "batch", config.NumLabels);
        _parameters = weights.Parameters;
        _session = TrainingSession.CreateSession(g.Build(), threads);
        UsesTokenTypes = _session.InputMetadata.ContainsKey("token_type_ids");
    }

    public bool UsesTokenTypes { get; }

    public float[] Logits(TrainingBatch batch, IReadOnlyDictionary<string, float[]> parameters)
    {
        var feeds = TrainingSession.ModelFeeds(batch, _parameters, parameters, UsesTokenTypes);
        try
        {
            using var runOptions = new RunOptions();
            using var results = _session.Run(runOptions, [.. feeds.Keys], [.. feeds.Values], ["logits"]);
            return results[0].GetTensorDataAsSpan<float>().ToArray();
        }
        finally
        {
            foreach (var v in feeds.Values)
                v.Dispose();
        }
    }

    public void Dispose() => _session.Dispose();
}
