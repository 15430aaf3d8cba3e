using System.Security.Cryptography;
using Nuansa.Hub;
using Nuansa.Inference;
using Nuansa.Tests.Cli;

namespace Nuansa.Tests.Hub;

/// <summary>Models by Hub id against a fake Hub on loopback: the cache laid out as huggingface_hub lays it out, and every failure said in words.</summary>
public sealed class HubModelsTests : IAsyncLifetime
{
    private readonly FakeHub _hub = new(SharedFiles.Model("bert-2label"));
    private readonly TempDirectory _cache = new();

    public Task InitializeAsync() => _hub.StartAsync();

    public async Task DisposeAsync()
    {
        await _hub.DisposeAsync();
        _cache.Dispose();
    }

    private HubOptions Options => new() { Endpoint = _hub.Address, CacheDirectory = _cache.Path, RetryDelay = TimeSpan.FromMilliseconds(10), Timeout = TimeSpan.FromSeconds(10) };

    private string Repo => Path.Combine(_cache.Path, "models--acme--tiny");

    [Fact]
    public void FirstDownloadLaysTheCacheOutAsPythonDoes()
    {
        var snapshot = HubModels.Download("acme/tiny", "main", Options);

        Assert.Equal(Path.Combine(Repo, "snapshots", FakeHub.Commit), snapshot);
        Assert.Equal(FakeHub.Commit, File.ReadAllText(Path.Combine(Repo, "refs", "main")));
        // Only what Nuansa reads: no README.
        Assert.Equal(_hub.Files.Keys.Order(), Directory.GetFiles(snapshot).Select(Path.GetFileName).Order());
        foreach (var (name, content) in _hub.Files)
        {
            var link = new FileInfo(Path.Combine(snapshot, name));
            Assert.NotNull(link.LinkTarget);
            Assert.StartsWith("../../blobs/", link.LinkTarget, StringComparison.Ordinal);
            Assert.Equal(content, File.ReadAllBytes(link.FullName));
        }
        // The LFS blob is named by its SHA-256, as the Hub's X-Linked-Etag says; nothing incomplete is left.
        var sha = Convert.ToHexStringLower(SHA256.HashData(_hub.Files["model.safetensors"]));
        Assert.True(File.Exists(Path.Combine(Repo, "blobs", sha)));
        Assert.Empty(Directory.GetFiles(Path.Combine(Repo, "blobs"), "*.incomplete"));
        Assert.Contains(_hub.Requests, r => r.StartsWith("GET /lfs-store/", StringComparison.Ordinal));

        // The snapshot is a checkpoint folder like any other.
        using var fromHub = TextClassifier.Load(snapshot);
        using var fromFolder = TextClassifier.Load(SharedFiles.Model("bert-2label"));
        Assert.Equal(fromFolder.Classify("a fine day").Logits, fromHub.Classify("a fine day").Logits);
    }

    [Fact]
    public void ASecondRunTakesTheCacheWithoutARequest()
    {
        var snapshot = HubModels.Resolve("acme/tiny", Options);
        _hub.Requests.Clear();
        Assert.Equal(snapshot, HubModels.Resolve("acme/tiny", Options));
        Assert.Equal(snapshot, HubModels.Resolve($"acme/tiny@{FakeHub.Commit}", Options));
        Assert.Empty(_hub.Requests);
        // download always asks for the revision's commit, but fetches no file it has.
        HubModels.Download("acme/tiny", "main", Options);
        Assert.Equal(["GET /api/models/acme/tiny/revision/main"], _hub.Requests);
    }

    [Fact]
    public void BranchesTagsAndCommitsResolveToOneSnapshot()
    {
        var main = HubModels.Resolve("acme/tiny", Options);
        Assert.Equal(main, HubModels.Resolve("acme/tiny@v1", Options));
        Assert.Equal(FakeHub.Commit, File.ReadAllText(Path.Combine(Repo, "refs", "v1")));
        Assert.Equal(main, HubModels.Download("acme/tiny", FakeHub.Commit, Options));
        Assert.False(File.Exists(Path.Combine(Repo, "refs", FakeHub.Commit)));
        var e = Assert.Throws<NuansaException>(() => HubModels.Resolve("acme/tiny@nope", Options));
        Assert.Contains("revision 'nope' not found", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AnInterruptedDownloadResumesWhereItStopped()
    {
        _hub.InterruptOnce = true;
        var e = Assert.Throws<NuansaException>(() => HubModels.Download("acme/tiny", "main", Options with { MaxAttempts = 1 }));
        Assert.Contains("run again to resume", e.Message, StringComparison.Ordinal);
        var partial = Assert.Single(Directory.GetFiles(Path.Combine(Repo, "blobs"), "*.incomplete"));
        var have = new FileInfo(partial).Length;
        Assert.InRange(have, 1, _hub.Files["model.safetensors"].Length - 1);

        var snapshot = HubModels.Download("acme/tiny", "main", Options);
        Assert.Contains(_hub.Requests, r => r.EndsWith($"bytes={have}-", StringComparison.Ordinal));
        Assert.Equal(_hub.Files["model.safetensors"], File.ReadAllBytes(Path.Combine(snapshot, "model.safetensors")));
        Assert.Empty(Directory.GetFiles(Path.Combine(Repo, "blobs"), "*.incomplete"));
    }

    [Fact]
    public void ServerErrorsAreRetried()
    {
        _hub.Unavailable = 2;
        var snapshot = HubModels.Download("acme/tiny", "main", Options);
        Assert.Equal(_hub.Files["model.safetensors"], File.ReadAllBytes(Path.Combine(snapshot, "model.safetensors")));
        Assert.Equal(3, _hub.Requests.Count(r => r.StartsWith("GET /lfs-store/", StringComparison.Ordinal)));
    }

    [Fact]
    public void ACorruptedBlobIsRefusedAndNotKept()
    {
        _hub.Corrupt = true;
        var e = Assert.Throws<NuansaException>(() => HubModels.Download("acme/tiny", "main", Options));
        Assert.Contains("model.safetensors is corrupted", e.Message, StringComparison.Ordinal);
        var sha = Convert.ToHexStringLower(SHA256.HashData(_hub.Files["model.safetensors"]));
        Assert.False(File.Exists(Path.Combine(Repo, "blobs", sha)));
        Assert.Empty(Directory.GetFiles(Path.Combine(Repo, "blobs"), "*.incomplete"));
        Assert.False(File.Exists(Path.Combine(Repo, "snapshots", FakeHub.Commit, "model.safetensors")));
    }

    [Fact]
    public void AGatedRepositorySaysHowToGetIn()
    {
        var e = Assert.Throws<NuansaException>(() => HubModels.Resolve("acme/gated", Options));
        Assert.Contains("gated or private", e.Message, StringComparison.Ordinal);
        Assert.Contains("HF_TOKEN", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<NuansaException>(() => HubModels.Resolve("acme/gated", Options with { Token = "hf_wrong" }));
        Assert.Contains("HTTP 403", e.Message, StringComparison.Ordinal);
        var snapshot = HubModels.Resolve("acme/gated", Options with { Token = FakeHub.Token });
        Assert.True(File.Exists(Path.Combine(snapshot, "model.safetensors")));
    }

    [Fact]
    public void MissingRepositoriesAndRenamedOnesAreHandled()
    {
        var e = Assert.Throws<NuansaException>(() => HubModels.Resolve("acme/nothing", Options));
        Assert.Contains("no such model repository", e.Message, StringComparison.Ordinal);
        // A renamed repository answers with a relative redirect, which is followed.
        var snapshot = HubModels.Resolve("old/tiny", Options);
        Assert.Equal(_hub.Files["config.json"], File.ReadAllBytes(Path.Combine(snapshot, "config.json")));
    }

    [Fact]
    public void OfflineModeReadsOnlyTheCache()
    {
        var e = Assert.Throws<NuansaException>(() => HubModels.Resolve("acme/tiny", Options with { Offline = true }));
        Assert.Contains("HF_HUB_OFFLINE", e.Message, StringComparison.Ordinal);
        Assert.Empty(_hub.Requests);
        var snapshot = HubModels.Resolve("acme/tiny", Options);
        _hub.Requests.Clear();
        Assert.Equal(snapshot, HubModels.Download("acme/tiny", "main", Options with { Offline = true }));
        Assert.Empty(_hub.Requests);
    }

    [Fact]
    public void AnUnreachableHubFallsBackToTheCacheWithAWarning()
    {
        var snapshot = HubModels.Resolve("acme/tiny", Options);
        var warnings = new List<string>();
        // Port 9 (discard) on loopback: nothing listens there.
        var unreachable = Options with { Endpoint = "http://127.0.0.1:9", Warn = warnings.Add, MaxAttempts = 2 };
        Assert.Equal(snapshot, HubModels.Download("acme/tiny", "main", unreachable));
        Assert.Contains("cannot be reached", Assert.Single(warnings), StringComparison.Ordinal);
        var e = Assert.Throws<NuansaException>(() => HubModels.Resolve("acme/other", unreachable));
        Assert.Contains("cannot be reached", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ACacheWrittenByPythonIsReadWithoutARequest()
    {
        // The layout huggingface_hub writes: blobs named by ETag, snapshot entries as relative links, refs/main.
        const string commit = "fedcba9876543210fedcba9876543210fedcba98";
        var repo = Path.Combine(_cache.Path, "models--someone--classifier");
        var snapshot = Path.Combine(repo, "snapshots", commit);
        Directory.CreateDirectory(Path.Combine(repo, "blobs"));
        Directory.CreateDirectory(snapshot);
        Directory.CreateDirectory(Path.Combine(repo, "refs"));
        File.WriteAllText(Path.Combine(repo, "refs", "main"), commit);
        foreach (var (name, content) in _hub.Files)
        {
            var etag = Convert.ToHexStringLower(SHA256.HashData(content));
            File.WriteAllBytes(Path.Combine(repo, "blobs", etag), content);
            File.CreateSymbolicLink(Path.Combine(snapshot, name), $"../../blobs/{etag}");
        }
        var offlineHub = Options with { Endpoint = "http://127.0.0.1:9", MaxAttempts = 1 };
        Assert.Equal(snapshot, HubModels.Resolve("someone/classifier", offlineHub));
        using var classifier = TextClassifier.Load(snapshot);
        Assert.Equal(2, classifier.Labels.Count);
        Assert.Empty(_hub.Requests);
    }

    [Theory]
    [InlineData("bert-base-uncased", true)]
    [InlineData("indobenchmark/indobert-large-p2", true)]
    [InlineData("org/name@refs/pr/1", true)]
    [InlineData("org/name/extra", false)]
    [InlineData("../models/x", false)]
    [InlineData("org--x/name", false)]
    [InlineData("-org/name", false)]
    [InlineData("org/name@", false)]
    public void RepositoryIdsFollowHfRules(string value, bool valid) => Assert.Equal(valid, HubModels.TryParse(value, out _, out _));

    [Fact]
    public void TheCliDownloadsAndClassifiesByHubId()
    {
        // In-process CLI runs read HF_ENDPOINT and HF_HUB_CACHE as the tool does; other tests never read them.
        var saved = (Environment.GetEnvironmentVariable("HF_ENDPOINT"), Environment.GetEnvironmentVariable("HF_HUB_CACHE"));
        Environment.SetEnvironmentVariable("HF_ENDPOINT", _hub.Address);
        Environment.SetEnvironmentVariable("HF_HUB_CACHE", _cache.Path);
        try
        {
            var (code, output, error) = CliRunner.Run("download", "acme/tiny@v1");
            Assert.True(code == 0, error);
            Assert.Equal(Path.Combine(Repo, "snapshots", FakeHub.Commit), output.Trim());
            (code, output, error) = CliRunner.Run("classify", "--model", "acme/tiny", "--top-k", "all", "a fine day");
            Assert.True(code == 0, error);
            var (_, local, _) = CliRunner.Run("classify", "--model", SharedFiles.Model("bert-2label"), "--top-k", "all", "a fine day");
            Assert.Equal(local, output);
            (code, _, error) = CliRunner.Run("classify", "--model", "acme/nothing", "hi");
            Assert.Equal(1, code);
            Assert.Contains("acme/nothing: no such model repository", error, StringComparison.Ordinal);
        }
        finally
        {
            Environment.SetEnvironmentVariable("HF_ENDPOINT", saved.Item1);
            Environment.SetEnvironmentVariable("HF_HUB_CACHE", saved.Item2);
        }
    }
}
