using System.Collections.Concurrent;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Nuansa.Tests.Hub;

/// <summary>
/// A Hugging Face Hub on loopback with the routes <c>huggingface_hub</c> uses: the revision API, resolve URLs that
/// answer HEAD with the commit, ETag and size, LFS files redirected to another path (absolute URL) that honours
/// Range, a renamed repository (relative redirect), a gated one, and failure modes for the tests.
/// </summary>
public sealed class FakeHub : IAsyncDisposable
{
    public const string Commit = "0123456789abcdef0123456789abcdef01234567";
    public const string Token = "hf_test_token";
    private readonly WebApplication _app;
    private readonly Dictionary<string, byte[]> _files;
    private readonly HashSet<string> _lfs = ["model.safetensors"];

    public FakeHub(string fixture)
    {
        _files = Directory.GetFiles(fixture)
            .Where(f => !Path.GetFileName(f).StartsWith("expected", StringComparison.Ordinal) && Path.GetFileName(f) != "inputs.json")
            .ToDictionary(f => Path.GetFileName(f), File.ReadAllBytes);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        _app = builder.Build();
        _app.Use(async (context, next) =>
        {
            Requests.Enqueue($"{context.Request.Method} {context.Request.Path}{(context.Request.Headers.Range.Count > 0 ? " " + context.Request.Headers.Range : "")}");
            await next();
        });
        _app.MapGet("/api/models/{org}/{name}/revision/{revision}", (string org, string name, string revision, HttpContext context) =>
        {
            if (org == "old")
                return Results.Redirect($"/api/models/acme/{name}/revision/{revision}", permanent: false, preserveMethod: true);
            if (Refuse(org, name, context) is { } refused)
                return refused;
            if (revision is not ("main" or "v1" or Commit))
            {
                context.Response.Headers["X-Error-Code"] = "RevisionNotFound";
                return Results.NotFound();
            }
            return Results.Json(new { id = $"{org}/{name}", sha = Commit, siblings = _files.Keys.Append("README.md").Select(f => new { rfilename = f }) });
        });
        _app.MapMethods("/{org}/{name}/resolve/{revision}/{file}", ["HEAD", "GET"], (string org, string name, string revision, string file, HttpContext context) =>
        {
            if (org == "old")
                return Results.Redirect($"/acme/{name}/resolve/{revision}/{file}", permanent: false, preserveMethod: true);
            if (Refuse(org, name, context) is { } refused)
                return refused;
            if (!_files.TryGetValue(file, out var content))
            {
                context.Response.Headers["X-Error-Code"] = "EntryNotFound";
                return Results.NotFound();
            }
            context.Response.Headers["X-Repo-Commit"] = Commit;
            if (_lfs.Contains(file))
            {
                // As the Hub does for LFS files: the ETag is the content's SHA-256, the bytes are elsewhere.
                var sha = Convert.ToHexStringLower(SHA256.HashData(content));
                context.Response.Headers["X-Linked-Etag"] = $"\"{sha}\"";
                context.Response.Headers["X-Linked-Size"] = content.Length.ToString(System.Globalization.CultureInfo.InvariantCulture);
                return Results.Redirect($"{Address}/lfs-store/{sha}");
            }
            context.Response.Headers.ETag = $"\"{Convert.ToHexStringLower(SHA1.HashData(content))}\"";
            return Results.Bytes(content, "application/octet-stream");
        });
        _app.MapGet("/lfs-store/{sha}", async (string sha, HttpContext context) =>
        {
            var content = _files.Values.First(c => Convert.ToHexStringLower(SHA256.HashData(c)) == sha);
            if (Corrupt)
                content = [.. content[..^1], (byte)(content[^1] ^ 0xFF)];
            if (Unavailable > 0)
            {
                Unavailable--;
                context.Response.StatusCode = 503;
                return;
            }
            var start = 0L;
            if (context.Request.Headers.Range.ToString() is { Length: > 0 } range && range.StartsWith("bytes=", StringComparison.Ordinal))
            {
                start = long.Parse(range[6..].TrimEnd('-'), System.Globalization.CultureInfo.InvariantCulture);
                context.Response.StatusCode = 206;
                context.Response.Headers.ContentRange = $"bytes {start}-{content.Length - 1}/{content.Length}";
            }
            context.Response.ContentLength = content.Length - start;
            if (InterruptOnce)
            {
                // Half the bytes, then the connection drops.
                InterruptOnce = false;
                await context.Response.Body.WriteAsync(content.AsMemory((int)start, (int)(content.Length - start) / 2));
                await context.Response.Body.FlushAsync();
                context.Abort();
                return;
            }
            await context.Response.Body.WriteAsync(content.AsMemory((int)start));
        });
    }

    /// <summary>Every request, as "METHOD /path [range]".</summary>
    public ConcurrentQueue<string> Requests { get; } = new();

    public string Address { get; private set; } = "";

    /// <summary>The next LFS download sends half its bytes and drops the connection.</summary>
    public bool InterruptOnce { get; set; }

    /// <summary>LFS downloads send one byte changed.</summary>
    public bool Corrupt { get; set; }

    /// <summary>This many LFS downloads answer 503 first.</summary>
    public int Unavailable { get; set; }

    public IReadOnlyDictionary<string, byte[]> Files => _files;

    public async Task StartAsync()
    {
        await _app.StartAsync();
        Address = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();

    /// <summary>Unknown repositories are 404 RepoNotFound; "acme/gated" needs the token (401 without it, 403 with another).</summary>
    private static IResult? Refuse(string org, string name, HttpContext context)
    {
        if (org != "acme" || name is not ("tiny" or "gated"))
        {
            context.Response.Headers["X-Error-Code"] = "RepoNotFound";
            return Results.NotFound();
        }
        if (name == "gated")
        {
            var auth = context.Request.Headers.Authorization.ToString();
            if (auth.Length == 0)
                return Results.StatusCode(401);
            if (auth != $"Bearer {Token}")
                return Results.StatusCode(403);
        }
        return null;
    }
}
