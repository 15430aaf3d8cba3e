using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Nuansa.Server;

/// <summary>Adds Nuansa's models and endpoints to an ASP.NET Core application.</summary>
public static class NuansaServiceCollectionExtensions
{
    /// <summary>
    /// Registers the models and pipelines of <paramref name="options"/> (loaded when first needed, at the latest by
    /// <see cref="NuansaEndpointRouteBuilderExtensions.MapNuansa"/>) and a health check named <c>nuansa</c>
    /// (<c>app.MapHealthChecks(...)</c> then reports them). <see cref="ServerOptions.Url"/> is not used: the
    /// application listens where it is told to.
    /// </summary>
    public static IServiceCollection AddNuansa(this IServiceCollection services, ServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        services.AddSingleton(provider => new NuansaEndpoints(options, provider.GetRequiredService<ILogger<NuansaEndpoints>>()));
        services.AddHealthChecks().AddCheck<NuansaHealthCheck>("nuansa");
        return services;
    }
}

/// <summary>Maps Nuansa's endpoints into an application.</summary>
public static class NuansaEndpointRouteBuilderExtensions
{
    /// <summary>
    /// Maps <c>/predict</c>, <c>/models/{name}/predict</c>, <c>/models/{name}</c>, <c>/pipelines/{name}</c>,
    /// <c>/info</c>, <c>/health</c>, <c>/metrics</c> and the playground under <paramref name="prefix"/> (e.g. <c>"/nuansa"</c>).
    /// Returns the group of API endpoints, for conventions of your own (<c>RequireAuthorization</c>, rate limits).
    /// </summary>
    public static RouteGroupBuilder MapNuansa(this IEndpointRouteBuilder routes, string prefix = "")
    {
        var endpoints = routes.ServiceProvider.GetRequiredService<NuansaEndpoints>();
        // A request still running when the host stops is a cut-off one, counted and logged.
        routes.ServiceProvider.GetService<IHostApplicationLifetime>()?.ApplicationStopping.Register(endpoints.MarkStopping);
        return endpoints.Map(routes, prefix);
    }
}

/// <summary>Healthy when every served model answers (as <c>/health</c>).</summary>
internal sealed class NuansaHealthCheck(NuansaEndpoints endpoints) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var (healthy, error) = await endpoints.CheckHealthAsync().ConfigureAwait(false);
        return healthy ? HealthCheckResult.Healthy() : new HealthCheckResult(context.Registration.FailureStatus, error);
    }
}
