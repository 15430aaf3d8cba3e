namespace Nuansa.Hub;

/// <summary>Where models come from and where they are kept, read from the same environment variables <c>huggingface_hub</c> reads.</summary>
public sealed record HubOptions
{
    /// <summary><c>HF_ENDPOINT</c>, else https://huggingface.co (a mirror, or a local server in tests).</summary>
    public string Endpoint { get; init; } = "https://huggingface.co";

    /// <summary><c>HF_HUB_CACHE</c>, else <c>HF_HOME/hub</c>, else <c>~/.cache/huggingface/hub</c>: shared with Python.</summary>
    public string CacheDirectory { get; init; } = "";

    /// <summary><c>HF_TOKEN</c>, else the token file under <c>HF_HOME</c> (what <c>huggingface-cli login</c> writes); sent as a Bearer token.</summary>
    public string? Token { get; init; }

    /// <summary><c>HF_HUB_OFFLINE=1</c>: no request at all, only what the cache holds.</summary>
    public bool Offline { get; init; }

    /// <summary>Attempts per request when the Hub answers 5xx or does not answer; waits double from <see cref="RetryDelay"/>.</summary>
    public int MaxAttempts { get; init; } = 4;

    /// <summary>The wait before the first retry of a failed download; it doubles with each retry.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How long a request (or a pause inside a download) may take before it counts as failed.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Bytes of each file as they arrive (for a progress bar); null for none.</summary>
    public IProgress<DownloadProgress>? Progress { get; init; }

    /// <summary>Warnings (using the cache because the Hub cannot be reached, ...); null for none.</summary>
    public Action<string>? Warn { get; init; }

    /// <summary>Options from the environment, as <c>huggingface_hub</c> reads it.</summary>
    public static HubOptions FromEnvironment()
    {
        static string? Env(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : null;
        var home = Env("HF_HOME") ?? Path.Combine(Env("XDG_CACHE_HOME") ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"), "huggingface");
        var tokenFile = Env("HF_TOKEN_PATH") ?? Path.Combine(home, "token");
        var token = Env("HF_TOKEN") ?? Env("HUGGING_FACE_HUB_TOKEN") ?? (File.Exists(tokenFile) ? File.ReadAllText(tokenFile).Trim() : null);
        return new HubOptions
        {
            Endpoint = (Env("HF_ENDPOINT") ?? "https://huggingface.co").TrimEnd('/'),
            CacheDirectory = Env("HF_HUB_CACHE") ?? Env("HUGGINGFACE_HUB_CACHE") ?? Path.Combine(home, "hub"),
            Token = token is { Length: > 0 } ? token : null,
            Offline = Env("HF_HUB_OFFLINE") is "1" or "ON" or "YES" or "TRUE" or "true" or "on" or "yes",
        };
    }
}

/// <summary>How far a file's download has got.</summary>
public readonly record struct DownloadProgress(string File, long Bytes, long? Total, bool Done);
