using System.Collections.Concurrent;
using System.Globalization;
using System.Text;

namespace Nuansa.Server;

/// <summary>Counters and histograms, written in Prometheus' text exposition format at <c>/metrics</c>.</summary>
public sealed class Metrics
{
    private static readonly double[] DurationBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
    private static readonly double[] SizeBuckets = [1, 2, 4, 8, 16, 32, 64, 128];

    private readonly ConcurrentDictionary<(string Name, string Labels), double> _counters = new();
    private readonly ConcurrentDictionary<(string Name, string Labels), Histogram> _histograms = new();
    private readonly ConcurrentDictionary<(string Name, string Labels), Func<double>> _gauges = new();

    public void Increment(string name, string model, double by = 1, string? status = null) =>
        _counters.AddOrUpdate((name, Labels(model, status)), by, (_, v) => v + by);

    public void ObserveDuration(string name, string model, double seconds) => Observe(name, model, seconds, DurationBuckets);

    public void ObserveSize(string name, string model, double size) => Observe(name, model, size, SizeBuckets);

    public void Gauge(string name, string model, Func<double> read) => _gauges[(name, Labels(model, null))] = read;

    public string Render()
    {
        var text = new StringBuilder();
        string F(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        foreach (var group in _counters.GroupBy(c => c.Key.Name).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            text.Append("# TYPE ").Append(group.Key).Append(" counter\n");
            foreach (var c in group.OrderBy(c => c.Key.Labels, StringComparer.Ordinal))
                text.Append(group.Key).Append('{').Append(c.Key.Labels).Append("} ").Append(F(c.Value)).Append('\n');
        }
        foreach (var group in _gauges.GroupBy(c => c.Key.Name).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            text.Append("# TYPE ").Append(group.Key).Append(" gauge\n");
            foreach (var c in group.OrderBy(c => c.Key.Labels, StringComparer.Ordinal))
                text.Append(group.Key).Append('{').Append(c.Key.Labels).Append("} ").Append(F(c.Value())).Append('\n');
        }
        foreach (var group in _histograms.GroupBy(c => c.Key.Name).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            text.Append("# TYPE ").Append(group.Key).Append(" histogram\n");
            foreach (var h in group.OrderBy(c => c.Key.Labels, StringComparer.Ordinal))
                h.Value.Render(text, group.Key, h.Key.Labels);
        }
        return text.ToString();
    }

    private void Observe(string name, string model, double value, double[] buckets) =>
        _histograms.GetOrAdd((name, Labels(model, null)), _ => new Histogram(buckets)).Observe(value);

    private static string Labels(string model, string? status) =>
        status == null ? $"model=\"{Escape(model)}\"" : $"model=\"{Escape(model)}\",status=\"{Escape(status)}\"";

    private static string Escape(string value) => value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    private sealed class Histogram(double[] bounds)
    {
        private readonly long[] _counts = new long[bounds.Length];
        private readonly Lock _lock = new();
        private long _count;
        private double _sum;

        public void Observe(double value)
        {
            lock (_lock)
            {
                for (var i = 0; i < bounds.Length; i++)
                {
                    if (value <= bounds[i])
                        _counts[i]++;
                }
                _count++;
                _sum += value;
            }
        }

        public void Render(StringBuilder text, string name, string labels)
        {
            lock (_lock)
            {
                for (var i = 0; i < bounds.Length; i++)
                    text.Append(CultureInfo.InvariantCulture, $"{name}_bucket{{{labels},le=\"{bounds[i].ToString("R", CultureInfo.InvariantCulture)}\"}} {_counts[i]}\n");
                text.Append(CultureInfo.InvariantCulture, $"{name}_bucket{{{labels},le=\"+Inf\"}} {_count}\n");
                text.Append(CultureInfo.InvariantCulture, $"{name}_sum{{{labels}}} {_sum.ToString("R", CultureInfo.InvariantCulture)}\n");
                text.Append(CultureInfo.InvariantCulture, $"{name}_count{{{labels}}} {_count}\n");
            }
        }
    }
}
