using System.Diagnostics.Metrics;

namespace Nuansa.Inference;

/// <summary>
/// The instruments every <see cref="TextClassifier"/> records to (System.Diagnostics.Metrics, meter
/// <c>"Nuansa"</c>): listen with OpenTelemetry's <c>AddMeter("Nuansa")</c> or <c>dotnet-counters</c>. Each
/// measurement carries the model's folder name as <c>nuansa.model</c>.
/// </summary>
public static class NuansaMeter
{
    /// <summary>The meter's name, for <c>AddMeter</c>.</summary>
    public const string Name = "Nuansa";

    internal static readonly Meter Meter = new(Name, typeof(NuansaMeter).Assembly.GetName().Version?.ToString());

    internal static readonly Counter<long> Inputs = Meter.CreateCounter<long>("nuansa.forward.inputs", "{input}", "Inputs (or windows of long inputs) through a forward pass.");
    internal static readonly Counter<long> Tokens = Meter.CreateCounter<long>("nuansa.forward.tokens", "{token}", "Token positions through a forward pass, padding included.");
    internal static readonly Histogram<double> Duration = Meter.CreateHistogram<double>("nuansa.forward.duration", "s", "Time of one forward pass (one padded batch).");
}
