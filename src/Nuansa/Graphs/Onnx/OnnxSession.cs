using Microsoft.ML.OnnxRuntime;

namespace Nuansa.Graphs.Onnx;

/// <summary>Settings of an ONNX Runtime session.</summary>
public sealed record SessionSettings
{
    /// <summary>Threads for one run's operators; 0 lets ONNX Runtime use every core.</summary>
    public int IntraOpThreads { get; init; }

    /// <summary>ONNX Runtime's graph optimizations (fusions, constant folding); <c>All</c> by default.</summary>
    public GraphOptimizationLevel OptimizationLevel { get; init; } = GraphOptimizationLevel.ORT_ENABLE_ALL;
}

/// <summary>One ONNX Runtime session on the CPU; safe to run from several threads at once.</summary>
public sealed class OnnxSession : IDisposable
{
    private readonly InferenceSession _session;

    public OnnxSession(Graph graph, SessionSettings? settings = null) : this(OnnxWriter.Serialize(graph), settings) { }

    public OnnxSession(byte[] model, SessionSettings? settings = null)
    {
        settings ??= new SessionSettings();
        using var options = new SessionOptions
        {
            GraphOptimizationLevel = settings.OptimizationLevel,
            IntraOpNumThreads = settings.IntraOpThreads,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
        };
        if (Environment.GetEnvironmentVariable("NUANSA_ORT_PROFILE") is { Length: > 0 } profile)
        {
            options.EnableProfiling = true;
            options.ProfileOutputPathPrefix = profile;
        }
        try
        {
            _session = new InferenceSession(model, options);
        }
        catch (OnnxRuntimeException e)
        {
            throw new InvalidOperationException($"ONNX Runtime rejected the graph Nuansa built: {e.Message}", e);
        }
        InputNames = _session.InputMetadata.Keys.ToArray();
        OutputNames = _session.OutputMetadata.Keys.ToArray();
    }

    public IReadOnlyList<string> InputNames { get; }
    public IReadOnlyList<string> OutputNames { get; }

    /// <summary>Runs the graph on int64 inputs of one shape and returns the requested float outputs with their shapes.</summary>
    public IReadOnlyList<(float[] Values, long[] Shape)> Run(IReadOnlyDictionary<string, long[]> inputs, long[] shape, IReadOnlyList<string> outputs)
    {
        var names = InputNames.ToArray();
        var values = new OrtValue[names.Length];
        try
        {
            for (var i = 0; i < names.Length; i++)
            {
                if (!inputs.TryGetValue(names[i], out var data))
                    throw new ArgumentException($"The graph needs input '{names[i]}'.");
                values[i] = OrtValue.CreateTensorValueFromMemory(data, shape);
            }
            using var runOptions = new RunOptions();
            using var results = _session.Run(runOptions, names, values, outputs.ToArray());
            return results.Select(r => (r.GetTensorDataAsSpan<float>().ToArray(), r.GetTensorTypeAndShape().Shape)).ToArray();
        }
        finally
        {
            foreach (var v in values)
                v?.Dispose();
        }
    }

    public void Dispose() => _session.Dispose();
}
