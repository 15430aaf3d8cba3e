using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Nuansa.Hub;

/// <summary>
/// Models by Hub id (<c>org/name[@revision]</c>), downloaded into the cache layout <c>huggingface_hub</c> writes and
/// reads, so Python and Nuansa share one cache: <c>models--org--name/blobs/{etag}</c>, <c>snapshots/{commit}/{file}</c>
/// as relative symbolic links to the blobs, and <c>refs/{revision}</c> holding the commit.
/// </summary>
public static partial class HubModels
{
    /// <summary>
    /// A checkpoint folder for <paramref name="model"/>: an existing path as it is, else a Hub id
    /// (<c>org/name</c>, <c>org/name@revision</c>) taken from the cache when its snapshot is complete there, and
    /// downloaded otherwise.
    /// </summary>
    public static string Resolve(string model, HubOptions? options = null)
    {
        if (Directory.Exists(model) || File.Exists(model) || !TryParse(model, out var repo, out var revision))
            return model;
        options ??= HubOptions.FromEnvironment();
        var cached = CachedSnapshot(options, repo, revision);
        if (cached != null && IsComplete(cached))
            return cached;
        try
        {
            return Download(repo, revision, options, model);
        }
        catch (NuansaException e)
        {
            // A mistyped local folder reads as a Hub id: name the folder first, so the Hub's answer is not the whole story.
            throw new NuansaException($"no folder '{model}' here ({Environment.CurrentDirectory}); as a Hub id it could not be fetched: {e.Message}");
        }
    }

    /// <summary>True for <c>org/name</c> or <c>name</c>, with an optional <c>@revision</c>: HF's repository-id rules.</summary>
    public static bool TryParse(string value, out string repo, out string revision)
    {
        var at = value.IndexOf('@', StringComparison.Ordinal);
        repo = at < 0 ? value : value[..at];
        revision = at < 0 ? "main" : value[(at + 1)..];
        return RepoId().IsMatch(repo) && !repo.Contains("--", StringComparison.Ordinal) && !repo.Contains("..", StringComparison.Ordinal)
            && revision.Length > 0 && !revision.Contains("..", StringComparison.Ordinal) && !revision.StartsWith('/');
    }

    [GeneratedRegex(@"^(?![.-])[\w.-]{1,96}(?<![.-])(/(?![.-])[\w.-]{1,96}(?<![.-]))?$")]
    private static partial Regex RepoId();

    /// <summary>
    /// Fetches what Nuansa reads of <paramref name="repo"/> at <paramref name="revision"/> — config.json, the
    /// tokenizer files, and the weights (safetensors, sharded or not; pytorch_model.bin only without safetensors) —
    /// into the cache, and returns the snapshot folder. Files already there are not fetched again.
    /// </summary>
    public static string Download(string repo, string revision = "main", HubOptions? options = null, string? shown = null)
    {
        options ??= HubOptions.FromEnvironment();
        shown ??= revision == "main" ? repo : $"{repo}@{revision}";
        if (!TryParse(repo, out _, out _) || repo.Contains('@', StringComparison.Ordinal))
            throw new NuansaException($"'{repo}' is not a Hub repository id (org/name).");
        var cached = CachedSnapshot(options, repo, revision);
        if (options.Offline)
        {
            return cached != null && IsComplete(cached) ? cached
                : throw new NuansaException($"{shown}: not in the cache ({RepoFolder(options, repo)}) and HF_HUB_OFFLINE is set; download it once online, or unset HF_HUB_OFFLINE.");
        }
        using var client = new HubClient(options, shown);
        RevisionInfo info;
        try
        {
            info = client.Revision(repo, revision);
        }
        catch (HubUnreachableException e)
        {
            // As huggingface_hub does: without the Hub, the cached snapshot of that revision still serves.
            if (cached != null && IsComplete(cached))
            {
                options.Warn?.Invoke($"{shown}: the Hub cannot be reached ({e.Message}); using the cached snapshot {Path.GetFileName(cached)}.");
                return cached;
            }
            throw new NuansaException($"{shown}: the Hub at {options.Endpoint} cannot be reached ({e.Message}) and the model is not in the cache.");
        }
        var folder = RepoFolder(options, repo);
        var snapshot = Path.Combine(folder, "snapshots", info.Commit);
        var wanted = new List<string> { "config.json" };
        if (!info.Files.Contains("config.json"))
            throw new NuansaException($"{shown}: the repository has no config.json, so it is not a transformers model.");
        wanted.AddRange(Tokenization.TokenizerFiles.Names.Where(info.Files.Contains));
        foreach (var file in wanted)
            Fetch(client, folder, snapshot, repo, info.Commit, file, options);
        foreach (var file in Weights(info.Files, name => Fetch(client, folder, snapshot, repo, info.Commit, name, options), shown))
            Fetch(client, folder, snapshot, repo, info.Commit, file, options);
        if (revision != info.Commit)
        {
            Directory.CreateDirectory(Path.Combine(folder, "refs"));
            AtomicFile.WriteAllText(Path.Combine(folder, "refs", revision), info.Commit);
        }
        return snapshot;
    }

    /// <summary>The cache folder of a repository: <c>models--org--name</c>.</summary>
    public static string RepoFolder(HubOptions options, string repo) =>
        Path.Combine(options.CacheDirectory, "models--" + repo.Replace("/", "--", StringComparison.Ordinal));

    /// <summary>The weight files to fetch: safetensors (the index first, then its shards) before pytorch_model.bin.</summary>
    private static IEnumerable<string> Weights(HashSet<string> files, Func<string, string> fetch, string shown)
    {
        foreach (var (single, index) in new[] { ("model.safetensors", "model.safetensors.index.json"), ("pytorch_model.bin", "pytorch_model.bin.index.json") })
        {
            if (files.Contains(single))
                return [single];
            if (files.Contains(index))
                return [index, .. Shards(fetch(index), index)];
        }
        throw new NuansaException($"{shown}: the repository has no weights Nuansa reads (model.safetensors or pytorch_model.bin, single or sharded).");
    }

    /// <summary>The shard names an index lists (plain file names only, as the checkpoint reader requires).</summary>
    private static string[] Shards(string indexPath, string index)
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(indexPath));
        if (!document.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
            throw new NuansaException($"{index}: no weight_map.");
        var shards = map.EnumerateObject().Select(p => p.Value.GetString() ?? "").Distinct().ToArray();
        if (shards.Any(s => s.Length == 0 || s != Path.GetFileName(s) || s.StartsWith('.')))
            throw new NuansaException($"{index}: a shard name is not a plain file name.");
        return shards;
    }

    /// <summary>The snapshot folder of a revision if the cache knows it: a commit directly, a branch or tag through refs/.</summary>
    private static string? CachedSnapshot(HubOptions options, string repo, string revision)
    {
        var folder = RepoFolder(options, repo);
        var refFile = Path.Combine(folder, "refs", revision);
        var commit = File.Exists(refFile) ? File.ReadAllText(refFile).Trim() : IsCommit(revision) ? revision : null;
        if (commit == null || !IsCommit(commit))
            return null;
        var snapshot = Path.Combine(folder, "snapshots", commit);
        return Directory.Exists(snapshot) ? snapshot : null;
    }

    /// <summary>A snapshot has what Nuansa needs: config, a tokenizer, and weights (every shard of a sharded one).</summary>
    private static bool IsComplete(string snapshot)
    {
        bool Has(string name) => File.Exists(Path.Combine(snapshot, name));
        bool HasShards(string index)
        {
            try
            {
                return Has(index) && Shards(Path.Combine(snapshot, index), index).All(Has);
            }
            catch (Exception e) when (e is JsonException or NuansaException)
            {
                return false;
            }
        }
        return Has("config.json")
            && (Has("tokenizer.json") || Has("vocab.txt") || Has("vocab.json") || Has("sentencepiece.bpe.model"))
            && (Has("model.safetensors") || HasShards("model.safetensors.index.json") || Has("pytorch_model.bin") || HasShards("pytorch_model.bin.index.json"));
    }

    private static bool IsCommit(string value) => value.Length == 40 && value.All(char.IsAsciiHexDigitLower);

    /// <summary>
    /// One file into the snapshot: nothing to do when its link is there; else its metadata (ETag, size, where the
    /// bytes are), the blob downloaded once (resuming a partial <c>.incomplete</c>, LFS content checked against its
    /// SHA-256), then the relative link. Returns the snapshot path of the file.
    /// </summary>
    private static string Fetch(HubClient client, string folder, string snapshot, string repo, string commit, string file, HubOptions options)
    {
        var pointer = Path.Combine(snapshot, file);
        if (File.Exists(pointer))
            return pointer;
        var meta = client.Metadata(repo, commit, file);
        var blobs = Path.Combine(folder, "blobs");
        Directory.CreateDirectory(blobs);
        var blob = Path.Combine(blobs, meta.Etag);
        if (!File.Exists(blob))
            client.DownloadBlob(meta, blob, file);
        Directory.CreateDirectory(Path.GetDirectoryName(pointer)!);
        var target = Path.GetRelativePath(Path.GetDirectoryName(pointer)!, blob);
        try
        {
            File.CreateSymbolicLink(pointer, target);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException && !File.Exists(pointer))
        {
            // No symbolic links here (Windows without developer mode): a copy, as huggingface_hub falls back to.
            File.Copy(blob, pointer);
        }
        return pointer;
    }

    internal sealed record RevisionInfo(string Commit, HashSet<string> Files);

    internal sealed record FileMetadata(string Url, string Etag, long? Size, string File);

    /// <summary>The Hub could not be reached (connection refused, timeouts, 5xx after every retry).</summary>
    internal sealed class HubUnreachableException(string message) : Exception(message);

    /// <summary>The HTTP side: retries, redirects, errors in words, resumable downloads.</summary>
    private sealed class HubClient : IDisposable
    {
        private readonly HttpClient _http;
        private readonly HubOptions _options;
        private readonly string _shown;

        public HubClient(HubOptions options, string shown)
        {
            _options = options;
            _shown = shown;
            // Redirects are followed by hand: the first response carries the commit, ETag and size of the file.
            _http = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, ConnectTimeout = options.Timeout, AutomaticDecompression = DecompressionMethods.None })
            {
                Timeout = System.Threading.Timeout.InfiniteTimeSpan,
            };
            _http.DefaultRequestHeaders.UserAgent.ParseAdd($"nuansa/{typeof(HubModels).Assembly.GetName().Version}");
        }

        /// <summary>The token goes to the Hub only: LFS storage URLs elsewhere are pre-signed and must not receive it.</summary>
        private HttpRequestMessage Request(HttpMethod method, string url)
        {
            var request = new HttpRequestMessage(method, url);
            if (_options.Token != null && new Uri(url).Authority == new Uri(_options.Endpoint).Authority)
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _options.Token);
            return request;
        }

        public void Dispose() => _http.Dispose();

        public RevisionInfo Revision(string repo, string revision)
        {
            using var response = Send(HttpMethod.Get, $"{_options.Endpoint}/api/models/{repo}/revision/{Uri.EscapeDataString(revision)}");
            Check(response, revision);
            using var document = JsonDocument.Parse(ReadLimited(response, 16 << 20));
            var root = document.RootElement;
            var commit = root.TryGetProperty("sha", out var sha) ? sha.GetString() : null;
            if (commit == null || !IsCommit(commit))
                throw new NuansaException($"{_shown}: the Hub's answer has no commit hash (sha).");
            var files = new HashSet<string>(StringComparer.Ordinal);
            if (root.TryGetProperty("siblings", out var siblings) && siblings.ValueKind == JsonValueKind.Array)
            {
                foreach (var s in siblings.EnumerateArray())
                {
                    if (s.TryGetProperty("rfilename", out var name) && name.GetString() is { } n)
                        files.Add(n);
                }
            }
            return new RevisionInfo(commit, files);
        }

        /// <summary>HEAD on the file's resolve URL: relative redirects (a renamed repository) are followed, an absolute one (LFS storage) is where the bytes are.</summary>
        public FileMetadata Metadata(string repo, string commit, string file)
        {
            var url = $"{_options.Endpoint}/{repo}/resolve/{commit}/{string.Join('/', file.Split('/').Select(Uri.EscapeDataString))}";
            using var response = Send(HttpMethod.Head, url);
            Check(response, commit, file);
            var etag = Header(response, "X-Linked-Etag") ?? response.Headers.ETag?.Tag ?? Header(response, "ETag")
                ?? throw new NuansaException($"{_shown}: the Hub sent no ETag for {file}.");
            etag = etag.StartsWith("W/", StringComparison.Ordinal) ? etag[2..] : etag;
            etag = etag.Trim('"');
            if (etag.Length == 0 || etag.Any(c => !char.IsAsciiLetterOrDigit(c) && c != '-' && c != '_'))
                throw new NuansaException($"{_shown}: the ETag of {file} is not a plain hash.");
            var size = long.TryParse(Header(response, "X-Linked-Size"), out var linked) ? linked : response.Content.Headers.ContentLength;
            var location = response.Headers.Location;
            var where = location == null ? response.RequestMessage!.RequestUri!.ToString() : new Uri(response.RequestMessage!.RequestUri!, location).ToString();
            return new FileMetadata(where, etag, size, file);
        }

        /// <summary>
        /// The bytes into <c>{blob}.incomplete</c> (resumed with Range when it exists), checked (size; SHA-256 for
        /// LFS files, whose ETag is their SHA-256), then renamed to the blob: nothing incomplete is ever a blob.
        /// </summary>
        public void DownloadBlob(FileMetadata meta, string blob, string file)
        {
            var partial = blob + ".incomplete";
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    DownloadOnce(meta, partial);
                    break;
                }
                catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException or HubUnreachableException && attempt < _options.MaxAttempts)
                {
                    Thread.Sleep(_options.RetryDelay * (1 << (attempt - 1)));
                }
                catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException)
                {
                    throw new NuansaException($"{_shown}: downloading {file} failed ({e.Message}); run again to resume from {new FileInfo(partial).Length} bytes.");
                }
            }
            var length = new FileInfo(partial).Length;
            if (meta.Size is { } size && length != size)
            {
                File.Delete(partial);
                throw new NuansaException($"{_shown}: {file} arrived with {length} bytes, not the {size} the Hub announced; nothing was kept.");
            }
            if (meta.Etag.Length == 64 && meta.Etag.All(char.IsAsciiHexDigitLower))
            {
                string actual;
                using (var stream = File.OpenRead(partial))
                    actual = Convert.ToHexStringLower(SHA256.HashData(stream));
                if (actual != meta.Etag)
                {
                    File.Delete(partial);
                    throw new NuansaException($"{_shown}: {file} is corrupted (SHA-256 {actual}, the Hub says {meta.Etag}); nothing was kept.");
                }
            }
            File.Move(partial, blob, overwrite: true);
        }

        private void DownloadOnce(FileMetadata meta, string partial)
        {
            var have = File.Exists(partial) ? new FileInfo(partial).Length : 0;
            if (meta.Size is { } total && have >= total)
            {
                if (have == total)
                    return;
                File.Delete(partial);
                have = 0;
            }
            using var request = Request(HttpMethod.Get, meta.Url);
            if (have > 0)
                request.Headers.Range = new RangeHeaderValue(have, null);
            using var headers = new CancellationTokenSource(_options.Timeout);
            using var response = _http.Send(request, HttpCompletionOption.ResponseHeadersRead, headers.Token);
            if ((int)response.StatusCode >= 500)
                throw new HubUnreachableException($"HTTP {(int)response.StatusCode}");
            Check(response, null, meta.File);
            var append = response.StatusCode == HttpStatusCode.PartialContent;
            using var output = new FileStream(partial, append ? FileMode.Append : FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
            using var body = response.Content.ReadAsStream();
            var buffer = new byte[1 << 16];
            var done = output.Length;
            while (true)
            {
                // A stalled transfer counts as failed after the timeout, like a refused one.
                int read;
                try
                {
                    read = body.ReadAsync(buffer).AsTask().WaitAsync(_options.Timeout).GetAwaiter().GetResult();
                }
                catch (TimeoutException)
                {
                    throw new IOException($"no data for {_options.Timeout.TotalSeconds:0} s");
                }
                if (read == 0)
                    break;
                output.Write(buffer, 0, read);
                done += read;
                _options.Progress?.Report(new DownloadProgress(meta.File, done, meta.Size, false));
            }
            _options.Progress?.Report(new DownloadProgress(meta.File, done, meta.Size, true));
        }

        /// <summary>Sends with retries for 5xx and network failures; follows relative redirects (renamed repositories).</summary>
        private HttpResponseMessage Send(HttpMethod method, string url)
        {
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    var response = SendFollowing(method, url);
                    if ((int)response.StatusCode < 500 || attempt >= _options.MaxAttempts)
                    {
                        if ((int)response.StatusCode >= 500)
                        {
                            var status = (int)response.StatusCode;
                            response.Dispose();
                            throw new HubUnreachableException($"HTTP {status} after {attempt} attempts");
                        }
                        return response;
                    }
                    response.Dispose();
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                    // No network at all (no route, no name service) will not come back in a second: say so at once.
                    if (attempt >= _options.MaxAttempts || NoNetwork(e))
                        throw new HubUnreachableException(e is TaskCanceledException ? "timed out" : e.Message);
                }
                Thread.Sleep(_options.RetryDelay * (1 << (attempt - 1)));
            }
        }

        private static bool NoNetwork(Exception e) =>
            e.InnerException is System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.HostNotFound
                or System.Net.Sockets.SocketError.NetworkUnreachable or System.Net.Sockets.SocketError.HostUnreachable or System.Net.Sockets.SocketError.NetworkDown
                or System.Net.Sockets.SocketError.TryAgain or System.Net.Sockets.SocketError.NoData };

        private HttpResponseMessage SendFollowing(HttpMethod method, string url)
        {
            for (var hops = 0; ; hops++)
            {
                using var request = Request(method, url);
                using var timeout = new CancellationTokenSource(_options.Timeout);
                var response = _http.Send(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
                var status = (int)response.StatusCode;
                if (status is >= 300 and < 400 && response.Headers.Location is { IsAbsoluteUri: false } relative && hops < 10)
                {
                    url = new Uri(new Uri(url), relative).ToString();
                    response.Dispose();
                    continue;
                }
                return response;
            }
        }

        /// <summary>Turns the Hub's refusals into one sentence saying what to do.</summary>
        private void Check(HttpResponseMessage response, string? revision, string? file = null)
        {
            var status = (int)response.StatusCode;
            if (status is < 400)
                return;
            var code = Header(response, "X-Error-Code");
            var what = file == null ? "" : $" ({file})";
            throw status switch
            {
                401 or 403 => new NuansaException(
                    $"{_shown}: the repository is gated or private{what} (HTTP {status}). Accept its terms on its Hub page while signed in, " +
                    (_options.Token == null ? "then set HF_TOKEN to an access token (Settings → Access Tokens)." : "and check that HF_TOKEN's token may read it.")),
                404 when code == "RevisionNotFound" => new NuansaException($"{_shown}: revision '{revision}' not found in the repository."),
                404 when code == "EntryNotFound" || (file != null && code != "RepoNotFound") => new NuansaException($"{_shown}: the repository has no file {file}."),
                404 => new NuansaException($"{_shown}: no such model repository on {_options.Endpoint} (and no such local folder)."),
                _ => new NuansaException($"{_shown}: the Hub answered HTTP {status}{what}."),
            };
        }

        private static string? Header(HttpResponseMessage response, string name) =>
            response.Headers.TryGetValues(name, out var values) ? values.FirstOrDefault()
            : response.Content.Headers.TryGetValues(name, out var content) ? content.FirstOrDefault() : null;

        private static byte[] ReadLimited(HttpResponseMessage response, int limit)
        {
            using var stream = response.Content.ReadAsStream();
            using var memory = new MemoryStream();
            var buffer = new byte[1 << 16];
            int read;
            while ((read = stream.Read(buffer)) > 0)
            {
                if (memory.Length + read > limit)
                    throw new NuansaException("The Hub's answer is larger than any model listing.");
                memory.Write(buffer, 0, read);
            }
            return memory.ToArray();
        }
    }
}
