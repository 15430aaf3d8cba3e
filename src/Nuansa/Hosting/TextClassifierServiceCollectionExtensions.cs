using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Nuansa.Inference;
using Nuansa.Models;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>What <see cref="TextClassifierServiceCollectionExtensions.AddTextClassifier"/> loads, and how.</summary>
public sealed class TextClassifierRegistration
{
    /// <summary>A checkpoint folder or a Hub model id (<c>org/name[@revision]</c>).</summary>
    public string Model { get; set; } = "";

    /// <summary>ONNX Runtime threads per forward pass; 0 uses every core.</summary>
    public int Threads { get; set; }

    /// <summary>Float32, or int8 linear layers (faster on CPUs, slightly different scores).</summary>
    public Quantization Quantization { get; set; }
    /// <summary>Int8: how the weights use their 8 bits; Auto picks the most precise form exact on this CPU.</summary>
    public Int8Weights Int8Weights { get; set; }

    /// <summary>Reads a plain checkpoint as multi-task.</summary>
    public IReadOnlyList<TaskHead>? Tasks { get; set; }
}

/// <summary>Registers classifiers in a service collection, one keyed singleton per name, for any .NET host.</summary>
public static class TextClassifierServiceCollectionExtensions
{
    /// <summary>
    /// Registers a <see cref="TextClassifier"/> under <paramref name="name"/> (a keyed singleton: inject it with
    /// <c>[FromKeyedServices("name")] TextClassifier</c>, or as <see cref="ITextClassifier"/>), loaded when first resolved, logging through the host's
    /// <see cref="ILoggerFactory"/>, and disposed with the container.
    /// </summary>
    public static IServiceCollection AddTextClassifier(this IServiceCollection services, string name, Action<TextClassifierRegistration> configure)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(configure);
        var registration = new TextClassifierRegistration();
        configure(registration);
        if (registration.Model.Length == 0)
            throw new ArgumentException($"Classifier '{name}': set Model to a checkpoint folder or a Hub model id.", nameof(configure));
        services.AddKeyedSingleton(name, (provider, _) => TextClassifier.Load(registration.Model, new TextClassifierOptions
        {
            Threads = registration.Threads,
            Quantization = registration.Quantization,
            Int8Weights = registration.Int8Weights,
            Tasks = registration.Tasks,
            Logger = provider.GetService<ILoggerFactory>()?.CreateLogger<TextClassifier>(),
        }));
        // The same instance as the interface, for code that fakes or decorates it.
        services.AddKeyedSingleton<ITextClassifier>(name, (provider, key) => provider.GetRequiredKeyedService<TextClassifier>(key));
        return services;
    }

    /// <summary>
    /// A health check for the classifier registered as <paramref name="name"/>: healthy when it classifies a short
    /// text within <paramref name="timeout"/> (default 10 s); the first check loads it.
    /// </summary>
    public static IHealthChecksBuilder AddTextClassifierCheck(this IHealthChecksBuilder builder, string name, TimeSpan? timeout = null) =>
        builder.Add(new HealthCheckRegistration($"classifier:{name}",
            provider => new TextClassifierHealthCheck(provider.GetRequiredKeyedService<TextClassifier>(name), timeout ?? TimeSpan.FromSeconds(10)),
            HealthStatus.Unhealthy, ["nuansa"]));
}

/// <summary>Healthy when the classifier answers a one-word input in time.</summary>
public sealed class TextClassifierHealthCheck(TextClassifier classifier, TimeSpan timeout) : IHealthCheck
{
    /// <summary>Classifies "ok"; unhealthy on an error or past the timeout.</summary>
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(timeout);
        try
        {
            await classifier.ClassifyAsync("ok", cancellationToken: limit.Token).WaitAsync(limit.Token).ConfigureAwait(false);
            return HealthCheckResult.Healthy();
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new HealthCheckResult(context.Registration.FailureStatus, $"{classifier.Path} did not answer within {timeout.TotalSeconds:0.#} s.");
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return new HealthCheckResult(context.Registration.FailureStatus, $"{classifier.Path}: {e.Message}", e);
        }
    }
}
