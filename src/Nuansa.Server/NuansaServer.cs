using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Nuansa.Server;

/// <summary>
/// A stand-alone server (what <c>nuansa serve</c> runs): an ASP.NET Core application with only Nuansa's endpoints
/// (<see cref="NuansaServiceCollectionExtensions.AddNuansa"/> and <see cref="NuansaEndpointRouteBuilderExtensions.MapNuansa"/>).
/// To add the endpoints to an application of your own, call those two instead.
/// </summary>
public sealed class NuansaServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly NuansaEndpoints _endpoints;
    private bool _stopped;

    private NuansaServer(WebApplication app, NuansaEndpoints endpoints)
    {
        _app = app;
        _endpoints = endpoints;
    }

    /// <summary>The addresses the server listens on, once started (with the real port when port 0 was asked for).</summary>
    public IReadOnlyList<string> Addresses =>
        [.. _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? []];

    /// <summary>Loads every model (failing fast on a bad one) and maps the endpoints; <see cref="StartAsync"/> starts listening.</summary>
    public static NuansaServer Create(ServerOptions options)
    {
        // Bursts of large bodies keep every pool thread busy for a moment; threads added only one by one would leave
        // /health waiting behind them. A floor of threads lets it answer at once.
        ThreadPool.GetMinThreads(out var workers, out var io);
        ThreadPool.SetMinThreads(Math.Max(workers, 4 * Environment.ProcessorCount + 8), io);
        var builder = WebApplication.CreateSlimBuilder();
        // Startup failures (a taken port) reach the caller as exceptions; no duplicate log of them.
        builder.Logging.SetMinimumLevel(LogLevel.Warning).AddFilter("Microsoft.Extensions.Hosting", LogLevel.None);
        builder.WebHost.UseUrls(options.Url);
        builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = options.ShutdownTimeout);
        builder.Services.AddNuansa(options);
        var app = builder.Build();
        try
        {
            // Routing's own answers (no such path, a method the path does not take) in TEI's error shape, not empty.
            app.UseStatusCodePages(async status =>
            {
                var (request, response) = (status.HttpContext.Request, status.HttpContext.Response);
                var (type, message) = response.StatusCode switch
                {
                    StatusCodes.Status404NotFound => ("NotFound", $"No endpoint at {request.Path}; GET /info lists what this server serves."),
                    StatusCodes.Status405MethodNotAllowed => ("MethodNotAllowed", $"{request.Method} is not allowed on {request.Path}."),
                    _ => ("Validation", ReasonPhrases.GetReasonPhrase(response.StatusCode)),
                };
                response.ContentType = "application/json";
                await response.WriteAsync(new System.Text.Json.Nodes.JsonObject { ["error"] = message, ["error_type"] = type }.ToJsonString()).ConfigureAwait(false);
            });
            app.MapNuansa();
        }
        catch
        {
            app.DisposeAsync().AsTask().GetAwaiter().GetResult();
            throw;
        }
        return new NuansaServer(app, app.Services.GetRequiredService<NuansaEndpoints>());
    }

    /// <summary>Starts listening on <see cref="ServerOptions.Url"/>.</summary>
    public Task StartAsync(CancellationToken cancellationToken = default) => _app.StartAsync(cancellationToken);

    /// <summary>Requests being handled now, over every model and pipeline.</summary>
    public int InFlight => _endpoints.InFlight;

    /// <summary>
    /// Stops taking connections and lets the requests in flight finish, for up to
    /// <see cref="ServerOptions.ShutdownTimeout"/>; returns how many were still running then and so were cut off.
    /// </summary>
    public async Task<int> StopAsync()
    {
        if (!_stopped)
        {
            _stopped = true;
            _endpoints.MarkStopping();
            await _app.StopAsync().ConfigureAwait(false);
            // Requests Kestrel aborted at the timeout were counted as they ended; any still running count too.
            _endpoints.CountStillRunning();
        }
        return _endpoints.CutOffCount;
    }

    /// <summary>Stops (as <see cref="StopAsync"/>) and releases the models.</summary>
    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        // The container disposes the endpoints, and with them the models.
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}
