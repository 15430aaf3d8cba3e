using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Nuansa.Inference;

namespace Nuansa.Server;

/// <summary>
/// Counters, gauges and histograms under text-embeddings-inference's names (<c>te_request_count</c>,
/// <c>te_request_duration</c>, <c>te_batch_next_size</c>, ...) and bucket layouts, so TEI dashboards work; each
/// carries a <c>model</c> label as well, since one Nuansa server may serve several. Prometheus text at <c>/metrics</c>.
/// </summary>
internal sealed class Metrics
{
    // TEI's layouts: durations geometric from 1.5e-5 s by 1.5 (35 buckets), sizes and token counts powers of two.
    private static readonly double[] DurationBuckets = [.. Enumerable.Range(1, 35).Select(i => 1e-5 * Math.Pow(1.5, i))];
    private static readonly double[] SizeBuckets = [.. Enumerable.Range(0, 13).Select(i => Math.Pow(2, i))];
    private static readonly double[] TokenBuckets = [.. Enumerable.Range(0, 21).Select(i => Math.Pow(2, i))];

    private readonly ConcurrentDictionary<(string Name, string Labels), double> _counters = new();
    private readonly ConcurrentDictionary<(string Name, string Labels), Histogram> _histograms = new();
    private readonly ConcurrentDictionary<(string Name, string Labels), Func<double>> _gauges = new();

    public void Increment(string name, string model, params (string Name, string Value)[] labels) => Add(name, model, 1, labels);

    public void Add(string name, string model, double by, params (string Name, string Value)[] labels) =>
        _counters.AddOrUpdate((name, Labels(model, labels)), by, (_, v) => v + by);

    /// <summary>A duration in seconds (names ending in <c>_duration</c>, as TEI's).</summary>
    public void ObserveDuration(string name, string model, double seconds) => Observe(name, model, seconds, DurationBuckets);

    /// <summary>A count of inputs (batch sizes).</summary>
    public void ObserveSize(string name, string model, double size) => Observe(name, model, size, SizeBuckets);

    /// <summary>A count of tokens (input lengths, tokens per batch).</summary>
    public void ObserveTokens(string name, string model, double tokens) => Observe(name, model, tokens, TokenBuckets);

    public void Gauge(string name, string model, Func<double> read) => _gauges[(name, Labels(model, []))] = read;

    /// <summary>A counter's value, for tests and benchmarks (0 when never counted).</summary>
    public double Read(string name, string model, params (string Name, string Value)[] labels) =>
        _counters.TryGetValue((name, Labels(model, labels)), out var v) ? v : 0;

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
        _histograms.GetOrAdd((name, Labels(model, [])), _ => new Histogram(buckets)).Observe(value);

    private static string Labels(string model, (string Name, string Value)[] labels) =>
        string.Join(",", labels.Prepend(("model", model)).Select(l => $"{l.Item1}=\"{Escape(l.Item2)}\""));

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

/// <summary>A model queue's timings and sizes as TEI's series: tokenization, input lengths, queue wait, batch sizes and tokens, inference.</summary>
internal sealed class MetricsObserver(Metrics metrics, string model) : ClassificationQueueObserver
{
    public override void Tokenized(TimeSpan duration, IReadOnlyList<int> lengths)
    {
        metrics.ObserveDuration("te_request_tokenization_duration", model, duration.TotalSeconds);
        foreach (var length in lengths)
            metrics.ObserveTokens("te_request_input_length", model, length);
    }

    public override void Queued(TimeSpan wait) => metrics.ObserveDuration("te_request_queue_duration", model, wait.TotalSeconds);

    public override void Batch(int inputs, int tokens)
    {
        metrics.ObserveSize("te_batch_next_size", model, inputs);
        metrics.ObserveTokens("te_batch_next_tokens", model, tokens);
    }

    public override void Inferred(TimeSpan duration) => metrics.ObserveDuration("te_request_inference_duration", model, duration.TotalSeconds);
}
