using Nuansa.Models;

namespace Nuansa.Server;

/// <summary>What the server loads and how it limits work; defaults follow HF text-embeddings-inference (TEI).</summary>
public sealed record ServerOptions
{
    /// <summary>Models by name (name → checkpoint folder). The first is the default model of <c>/predict</c>.</summary>
    public IReadOnlyList<(string Name, string Path)> Models { get; init; } = [];

    /// <summary>Pipelines by name (name → pipeline file, see <see cref="Inference.Pipeline.Load"/>), served at <c>/pipelines/{name}</c>.</summary>
    public IReadOnlyList<(string Name, string Path)> Pipelines { get; init; } = [];

    /// <summary>Address to listen on, e.g. <c>http://0.0.0.0:8080</c>; port 0 picks a free port.</summary>
    public string Url { get; init; } = "http://127.0.0.1:8080";

    /// <summary>How the models compute: float32, or int8 (see <see cref="Models.Quantization"/>).</summary>
    public Quantization Quantization { get; init; }

    /// <summary>Int8 weight form (Auto: the most precise form exact on this CPU).</summary>
    public Int8Weights Int8Weights { get; init; }

    /// <summary>Reads every model served as multi-task with these tasks (for plain published multi-task checkpoints); null: each model's config.</summary>
    public IReadOnlyList<Inference.TaskHead>? Tasks { get; init; }

    /// <summary>ONNX Runtime threads per forward pass; 0 uses every core.</summary>
    public int Threads { get; init; }

    /// <summary>Inputs per forward pass when requests are batched together.</summary>
    public int MaxBatchSize { get; init; } = 32;

    /// <summary>
    /// Token positions per forward pass, padding included (TEI's <c>max_batch_tokens</c>; see
    /// <see cref="Nuansa.Inference.ClassifyOptions.MaxBatchTokens"/>, whose default it shares); null sets no limit.
    /// </summary>
    public int? MaxBatchTokens { get; init; } = Nuansa.Inference.ClassifyOptions.Default.MaxBatchTokens;

    /// <summary>Inputs one request may send (TEI's <c>max_client_batch_size</c>).</summary>
    public int MaxClientBatchSize { get; init; } = 32;

    /// <summary>Requests in flight per model (tokenizing, queued or running; bodies are read before) before new ones get 429 (TEI's <c>max_concurrent_requests</c>).</summary>
    public int MaxConcurrentRequests { get; init; } = 512;

    /// <summary>Truncate inputs that are too long when a request does not say (TEI's <c>--auto-truncate</c>); otherwise they are refused.</summary>
    public bool AutoTruncate { get; init; }

    /// <summary>Serve the playground page at <c>/</c> (its files need no key; the API calls it makes do).</summary>
    public bool Playground { get; init; } = true;

    /// <summary>
    /// When set, requests must carry <c>Authorization: Bearer &lt;key&gt;</c> (as TEI's <c>--api-key</c>); <c>/health</c> and
    /// <c>/metrics</c> stay open for probes and scrapers.
    /// </summary>
    public string? ApiKey { get; init; }

    /// <summary>Largest request body accepted, in bytes.</summary>
    public long MaxRequestBytes { get; init; } = 2 * 1024 * 1024;

    /// <summary>Characters one input (text and context together) may hold, checked before tokenizing; null: TEI's rule, 250 per token of the model's limit.</summary>
    public int? MaxInputChars { get; init; }

    /// <summary>Windows one request may make with <c>"long_text": "chunk"</c>, counted before any is built (beyond: 413).</summary>
    public int MaxWindows { get; init; } = 64;

    /// <summary>
    /// Characters being tokenized at once over every model; a request that would pass it gets 429 with Retry-After,
    /// so many maximum-size requests at once cannot exhaust the memory others need.
    /// </summary>
    public long MaxTokenizingChars { get; init; } = Nuansa.Inference.ClassificationQueueOptions.DefaultTokenizingChars;

    /// <summary>A request body arriving slower than this (after 2 s of grace) is cut off with 408; 0 leaves Kestrel's own minimum (240 bytes/s).</summary>
    public double MinRequestBodyBytesPerSecond { get; init; } = 4096;

    /// <summary>The longest a request body may take to arrive, whatever its rate (beyond: 408).</summary>
    public TimeSpan RequestBodyTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a stop waits for the requests in flight to finish before cutting them off.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(30);
}
