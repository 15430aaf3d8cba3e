using Microsoft.ML.OnnxRuntime;

namespace Nuansa.Graphs.Onnx;

/// <summary>Settings of an ONNX Runtime session.</summary>
internal sealed record SessionSettings
{
    /// <summary>Threads for one run's operators; 0 lets ONNX Runtime use every core.</summary>
    public int IntraOpThreads { get; init; }

    /// <summary>ONNX Runtime's graph optimizations (fusions, constant folding); <c>All</c> by default.</summary>
    public GraphOptimizationLevel OptimizationLevel { get; init; } = GraphOptimizationLevel.ORT_ENABLE_ALL;

    /// <summary>
    /// Weights up to this many bytes go inside the serialized model, which ONNX Runtime copies. More go through a
    /// temporary external-data file, which it maps into memory instead: only the weights it repacks for its kernels
    /// and the pages read stay resident (BERT-base in float32: 0.44 GB resident after loading instead of 1.5 GB).
    /// </summary>
    public long InlineWeightLimit { get; init; } = 16L << 20;

    /// <summary>Where that temporary file goes; the system's temporary folder (<c>TMPDIR</c>) by default.</summary>
    public string? TemporaryFolder { get; init; }

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

    // A session's temporary weight file that the system would not delete while mapped (Windows); deleted with the session.
    private readonly string? _weightFolder;

    /// <summary>
    /// A session for a graph built in memory. A graph whose weights pass <see cref="SessionSettings.InlineWeightLimit"/>
    /// is loaded through a temporary model file with external data, deleted once ONNX Runtime has mapped it.
    /// </summary>
    public OnnxSession(Graph graph, SessionSettings? settings = null)
    {
        settings ??= new SessionSettings();
        WeightBytes = graph.Initializers.Sum(OnnxWriter.ByteLength);
        _session = WeightBytes <= settings.InlineWeightLimit
            ? FromMemory(graph, settings)
            : CreateMapped(graph, settings, WeightBytes <= MaxInlineBytes, out _weightFolder);
        InputNames = _session.InputMetadata.Keys.ToArray();
        OutputNames = _session.OutputMetadata.Keys.ToArray();
    }

    // Protobuf cannot hold a message over 2 GB: weights past this always go through a file.
    private const long MaxInlineBytes = 1L << 30;

    private static InferenceSession CreateMapped(Graph graph, SessionSettings settings, bool canInline, out string? undeleted)
    {
        undeleted = null;
        var folder = Scratch.Under(settings.TemporaryFolder ?? System.IO.Path.GetTempPath(), "nuansa-session");
        var path = System.IO.Path.Combine(folder, "model.onnx");
        try
        {
            // Readable by this user only: the folder holds the model's weights for as long as loading takes.
            if (OperatingSystem.IsWindows())
                Directory.CreateDirectory(folder);
            else
                Directory.CreateDirectory(folder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            OnnxWriter.Write(path, graph, inlineLimit: 0, (file, write) =>
            {
                using var stream = new FileStream(file, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20);
                write(stream);
            });
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException && canInline)
        {
            // No room or no right to write in the temporary folder: load from memory, at the cost of ORT's copy.
            TryDelete(folder);
            return FromMemory(graph, settings);
        }
        try
        {
            return Create(settings, options => new InferenceSession(path, options));
        }
        finally
        {
            if (!TryDelete(folder))
                undeleted = folder;
        }
    }

    // The graph serialized with its weights inline; ONNX Runtime parses and copies them.
    private static InferenceSession FromMemory(Graph graph, SessionSettings settings) =>
        Create(settings, options => new InferenceSession(OnnxWriter.Serialize(graph), options));

    private static bool TryDelete(string folder)
    {
        try
        {
            Directory.Delete(folder, recursive: true);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>The bytes of the graph's constant tensors (its weights); 0 for a session made from a serialized model.</summary>
    public long WeightBytes { get; }

    /// <summary>The ONNX Runtime session itself, for callers that bind inputs and outputs (training).</summary>
    internal InferenceSession Session => _session;

    /// <summary>A session for a serialized ONNX model.</summary>
    public OnnxSession(byte[] model, SessionSettings? settings = null)
    {
        _session = Create(settings ?? new SessionSettings(), options => new InferenceSession(model, options));
        InputNames = _session.InputMetadata.Keys.ToArray();
        OutputNames = _session.OutputMetadata.Keys.ToArray();
    }

    private static InferenceSession Create(SessionSettings settings, Func<SessionOptions, InferenceSession> create)
    {
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
        try
        {
            return create(options);
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

    public void Dispose()
    {
        _session.Dispose();
        if (_weightFolder != null)
            TryDelete(_weightFolder);
    }
}
