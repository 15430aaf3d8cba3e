using Microsoft.ML.OnnxRuntime;

namespace Nuansa.Graphs.Onnx;

/// <summary>Settings of an ONNX Runtime session.</summary>
internal sealed record SessionSettings
{
    /// <summary>Threads for one run's operators; 0 lets ONNX Runtime use every core.</summary>
    public int IntraOpThreads { get; init; }

    /// <summary>ONNX Runtime's graph optimizations (fusions, constant folding); <c>All</c> by default.</summary>
    public GraphOptimizationLevel OptimizationLevel { get; init; } = GraphOptimizationLevel.ORT_ENABLE_ALL;

    /// <summary>Weights up to this many bytes go inside the serialized model; more go through an external-data file.</summary>
    public long InlineWeightLimit { get; init; } = 1L << 30;

    /// <summary>
    /// ONNX Runtime's memory pattern (one planned block per run for all intermediates). Off for training graphs: their
    /// block is gigabytes, returned to the OS after each run and page-faulted in again every step (BERT-base at
    /// 16 × 128: 11.0 s a step with it, 7.4 s without, and half the peak memory).
    /// </summary>
    public bool MemoryPattern { get; init; } = true;

    /// <summary>ONNX Runtime's <c>session.intra_op.allow_spinning</c> (see <see cref="Inference.TextClassifierOptions.AllowSpinning"/>).</summary>
    public bool AllowSpinning { get; init; } = true;

    /// <summary>Run on threads of the session's own even when <see cref="OnnxRuntimeThreads.Shared"/> (training keeps its pool).</summary>
    public bool OwnThreads { get; init; }
}

/// <summary>
/// ONNX Runtime's process-wide thread pool: a server with several models would otherwise start a pool of
/// threads per model (N models × cores threads, all spinning for work).
/// </summary>
public static class OnnxRuntimeThreads
{
    private static readonly Lock Gate = new();
    private static volatile bool _shared;

    /// <summary>True once sessions share the process-wide pool.</summary>
    public static bool Shared => _shared;

    /// <summary>
    /// Makes every session created from now on run on one shared pool of <paramref name="threads"/> threads (0: one
    /// per core). ONNX Runtime only allows this before the process's first session; returns whether the shared
    /// pool is in use (false when sessions already exist, which then keep their own pools).
    /// </summary>
    public static bool UseSharedPool(int threads)
    {
        lock (Gate)
        {
            if (_shared)
                return true;
            if (OrtEnv.IsCreated)
                return false;
            using var threading = new OrtThreadingOptions { GlobalIntraOpNumThreads = threads, GlobalInterOpNumThreads = 1 };
            var options = new EnvironmentCreationOptions { threadOptions = threading };
            OrtEnv.CreateInstanceWithOptions(ref options);
            _shared = true;
            return true;
        }
    }
}

/// <summary>One ONNX Runtime session on the CPU; safe to run from several threads at once.</summary>
internal sealed class OnnxSession : IDisposable
{
    private readonly InferenceSession _session;

    /// <summary>
    /// A session for a graph built in memory. A graph whose weights pass <see cref="SessionSettings.InlineWeightLimit"/>
    /// (protobuf cannot hold more than 2 GB) is loaded through a temporary model file with external data.
    /// </summary>
    public OnnxSession(Graph graph, SessionSettings? settings = null)
    {
        _session = CreateInferenceSession(graph, settings);
        InputNames = _session.InputMetadata.Keys.ToArray();
        OutputNames = _session.OutputMetadata.Keys.ToArray();
    }

    /// <summary>
    /// The one place ONNX Runtime sessions are made (inference, training and evaluation graphs alike): the graph
    /// serialized in memory, or through a temporary external-data file when its weights pass the protobuf limit.
    /// </summary>
    internal static InferenceSession CreateInferenceSession(Graph graph, SessionSettings? settings = null)
    {
        settings ??= new SessionSettings();
        if (graph.Initializers.Sum(OnnxWriter.ByteLength) <= settings.InlineWeightLimit)
            return Create(OnnxWriter.Serialize(graph), settings, null);
        var folder = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "nuansa-session-" + Guid.NewGuid().ToString("N"));
        try
        {
            var path = System.IO.Path.Combine(folder, "model.onnx");
            OnnxWriter.Write(path, graph, inlineLimit: 0);
            return Create(File.ReadAllBytes(path), settings, options =>
                options.AddSessionConfigEntry("session.model_external_initializers_file_folder_path", folder));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>A session for a serialized ONNX model.</summary>
    public OnnxSession(byte[] model, SessionSettings? settings = null)
    {
        _session = Create(model, settings, null);
        InputNames = _session.InputMetadata.Keys.ToArray();
        OutputNames = _session.OutputMetadata.Keys.ToArray();
    }

    private static InferenceSession Create(byte[] model, SessionSettings? settings, Action<SessionOptions>? configure)
    {
        settings ??= new SessionSettings();
        using var options = new SessionOptions
        {
            GraphOptimizationLevel = settings.OptimizationLevel,
            IntraOpNumThreads = settings.IntraOpThreads,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            EnableMemoryPattern = settings.MemoryPattern,
        };
        if (OnnxRuntimeThreads.Shared && !settings.OwnThreads)
            options.DisablePerSessionThreads();
        if (!settings.AllowSpinning)
            options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        configure?.Invoke(options);
        try
        {
            return new InferenceSession(model, options);
        }
        catch (OnnxRuntimeException e)
        {
            throw new InvalidOperationException($"ONNX Runtime rejected the graph: {e.Message}", e);
        }
    }

    public IReadOnlyList<string> InputNames { get; }
    public IReadOnlyList<string> OutputNames { get; }

    /// <summary>Runs the graph on inputs of one shape and type (token ids, or floats) and returns the requested float outputs with their shapes.</summary>
    public IReadOnlyList<(float[] Values, long[] Shape)> Run<T>(IReadOnlyDictionary<string, T[]> inputs, long[] shape, IReadOnlyList<string> outputs)
        where T : unmanaged
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
