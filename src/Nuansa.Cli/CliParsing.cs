using System.Runtime.InteropServices;
using System.CommandLine;
using Nuansa.Inference;

namespace Nuansa.Cli;

/// <summary>Option values shared by several commands.</summary>
internal static class CliParsing
{
    /// <summary>
    /// --tasks A,B,... with --task-labels: one comma-separated list shared by every task (x,y,z), or one list per
    /// task separated by semicolons (x,y;p,q,r) for tasks with different labels.
    /// </summary>
    public static IReadOnlyList<TaskHead>? Tasks(string? tasks, string? labels)
    {
        if (tasks == null && labels == null)
            return null;
        if (tasks == null || labels == null)
            throw new NuansaException("--tasks and --task-labels go together.");
        var names = List(tasks);
        var lists = labels.Split(';').Select(List).ToArray();
        if (lists.Any(l => l.Length == 0))
            throw new NuansaException("--task-labels has an empty label list.");
        if (lists.Length == 1)
            return MultiTask.Uniform(names, lists[0]);
        if (lists.Length != names.Length)
            throw new NuansaException($"--task-labels has {lists.Length} label lists for {names.Length} tasks; give one shared list or one per task.");
        return [.. names.Select((n, i) => new TaskHead(n, lists[i]))];
    }

    /// <summary>
    /// A --model value as a checkpoint folder: a path as it is, a Hub id (org/name[@revision]) from the cache or
    /// downloaded, with a progress line per file on a terminal and warnings on standard error.
    /// </summary>
    public static string Model(ParseResult parse, string value) => Hub.HubModels.Resolve(value, HubOptions(parse));

    public static Hub.HubOptions HubOptions(ParseResult parse)
    {
        var error = parse.InvocationConfiguration.Error;
        var terminal = error == Console.Error && !Console.IsErrorRedirected;
        return Hub.HubOptions.FromEnvironment() with
        {
            Warn = message => error.WriteLine($"warning: {message}"),
            Progress = terminal ? new DownloadBar(error) : null,
        };
    }

    /// <summary>One progress line per file on a terminal: name, megabytes, percentage, speed.</summary>
    private sealed class DownloadBar(TextWriter error) : IProgress<Hub.DownloadProgress>
    {
        private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();
        private string? _file;
        private TimeSpan _started;
        private TimeSpan _shown;

        public void Report(Hub.DownloadProgress p)
        {
            var now = _clock.Elapsed;
            if (p.File != _file)
                (_file, _started, _shown) = (p.File, now, TimeSpan.Zero);
            else if (!p.Done && now - _shown < TimeSpan.FromMilliseconds(200))
                return;
            _shown = now;
            var speed = p.Bytes / Math.Max((now - _started).TotalSeconds, 1e-3) / 1e6;
            var total = p.Total is { } t ? FormattableString.Invariant($" / {t / 1e6:0.0}") : "";
            var percent = p.Total is > 0 ? FormattableString.Invariant($" {100.0 * p.Bytes / p.Total.Value:0.0}%") : "";
            error.Write(FormattableString.Invariant($"\r{p.File}: {p.Bytes / 1e6:0.0}{total} MB{percent}  {speed:0.0} MB/s   "));
            if (p.Done)
                error.WriteLine();
        }
    }

    /// <summary>A one-line note of how a loaded int8 model computes (nothing for float32), on standard error.</summary>
    public static void ReportPrecision(ParseResult parse, TextClassifier classifier)
    {
        if (classifier.Int8Weights != null)
            parse.InvocationConfiguration.Error.WriteLine($"{classifier.Path}: {classifier.Precision}");
    }

    /// <summary>
    /// A token that fires on SIGTERM (docker stop, systemd, Kubernetes) or SIGINT as well as on <paramref name="cancellation"/>,
    /// instead of the process ending: long-running commands stop cleanly and choose their exit code. Dispose it when done.
    /// </summary>
    public static SignalStop StopOnSignals(CancellationToken cancellation) => new(cancellation);

    internal sealed class SignalStop : IDisposable
    {
        private readonly CancellationTokenSource _stop;
        private readonly PosixSignalRegistration _term;
        private readonly PosixSignalRegistration _interrupt;

        public SignalStop(CancellationToken cancellation)
        {
            _stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
            _term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
            _interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        }

        public CancellationToken Token => _stop.Token;

        private void Stop(PosixSignalContext context)
        {
            context.Cancel = true;
            _stop.Cancel();
        }

        public void Dispose()
        {
            _term.Dispose();
            _interrupt.Dispose();
            _stop.Dispose();
        }
    }

    /// <summary>--pair-column: a name given must be a column of the data; without it, text_pair is read where the data has it.</summary>
    public static Option<string?> PairColumnOption() =>
        new("--pair-column") { Description = $"Column of a pair's second text; the text column is then the first segment, the context: [CLS] text [SEP] pair [SEP] (default: {Data.DataColumns.DefaultPair} when the file has it)." };

    /// <summary>--max-batch-tokens (ClassifyOptions.MaxBatchTokens; 0 for no limit), on classify and serve.</summary>
    public static Option<int> MaxBatchTokensOption() =>
        new("--max-batch-tokens") { Description = "Token positions per forward pass, padding included (0: no limit).", DefaultValueFactory = _ => ClassifyOptions.Default.MaxBatchTokens ?? 0 };

    /// <summary>The limit <see cref="MaxBatchTokensOption"/> gave: null for 0, no limit.</summary>
    public static int? MaxBatchTokens(ParseResult parse, Option<int> option) => parse.GetValue(option) is var t and > 0 ? t : null;

    /// <summary>--truncation-side left|right (HF's <c>truncation_side</c>).</summary>
    public static Option<string> TruncationSideOption()
    {
        var option = new Option<string>("--truncation-side") { Description = "Which end of a too-long text is cut: right (HF's default) or left.", DefaultValueFactory = _ => "right" };
        option.AcceptOnlyFromAmong("right", "left");
        return option;
    }

    public static Tokenization.TruncationSide TruncationSide(string value) => value == "left" ? Tokenization.TruncationSide.Left : Tokenization.TruncationSide.Right;

    /// <summary>A comma-separated list, entries trimmed, empty ones dropped.</summary>
    public static string[] List(string text) => [.. text.Split(',').Select(s => s.Trim()).Where(s => s.Length > 0)];
}

/// <summary>--tasks A,B,... with --task-labels: read a plain published checkpoint as multi-task without editing its config.</summary>
internal sealed class TaskOptions
{
    public Option<string?> Tasks { get; } = new("--tasks") { Description = "Read the model as multi-task: comma-separated task names (with --task-labels)." };
    public Option<string?> TaskLabels { get; } = new("--task-labels") { Description = "Labels of the --tasks: one comma-separated list for all, or one per task separated by ';'." };

    public IReadOnlyList<TaskHead>? Read(ParseResult parse) => CliParsing.Tasks(parse.GetValue(Tasks), parse.GetValue(TaskLabels));
}

/// <summary>--long-text truncate|chunk, --stride, --aggregate: what happens to inputs longer than the model takes.</summary>
internal sealed class LongTextOptions
{
    public LongTextOptions()
    {
        LongText = new Option<string>("--long-text") { Description = "Inputs longer than the model takes: truncate (cut, HF's default) or chunk (classify overlapping windows and combine them).", DefaultValueFactory = _ => "truncate" };
        LongText.AcceptOnlyFromAmong("truncate", "chunk");
        Stride = new Option<int>("--stride") { Description = "With --long-text chunk: tokens each window repeats from the previous one.", DefaultValueFactory = _ => 0 };
        Aggregate = new Option<string>("--aggregate") { Description = "With --long-text chunk: mean (of the windows' logits), max or first.", DefaultValueFactory = _ => "mean" };
        Aggregate.AcceptOnlyFromAmong("mean", "max", "first");
    }

    public Option<string> LongText { get; }
    public Option<int> Stride { get; }
    public Option<string> Aggregate { get; }

    /// <summary><paramref name="options"/> with the long-text handling asked for on the command line.</summary>
    public ClassifyOptions Apply(ParseResult parse, ClassifyOptions options) => options with
    {
        LongText = parse.GetValue(LongText) == "chunk" ? Inference.LongText.Chunk : Inference.LongText.Truncate,
        Stride = parse.GetValue(Stride),
        Aggregate = parse.GetValue(Aggregate) switch { "max" => WindowAggregate.Max, "first" => WindowAggregate.First, _ => WindowAggregate.Mean },
    };
}

/// <summary>--quantize none|int8 and --int8-weights: how the encoder's linear layers compute (see <see cref="Models.Quantization"/>).</summary>
internal sealed class PrecisionOptions
{
    private PrecisionOptions(bool export)
    {
        Quantize = new Option<string>("--quantize")
        {
            Description = "int8: dynamic int8 encoder linears (a quarter of the size, ~2-3x faster; scores differ slightly); none: float32.",
            DefaultValueFactory = _ => "none",
        };
        Quantize.AcceptOnlyFromAmong("none", "int8");
        Int8Weights = new Option<string>("--int8-weights")
        {
            Description = export
                ? "reduced: 7-bit weights, exact on every CPU (default); full: 8-bit weights, exact only on CPUs with VNNI (AVX512-VNNI, AVX-VNNI) or Arm64."
                : "auto: 8-bit weights where this CPU computes them exactly (VNNI, Arm64), else 7-bit (default); full or reduced to force one.",
            DefaultValueFactory = _ => export ? "reduced" : "auto",
        };
        if (export)
            Int8Weights.AcceptOnlyFromAmong("reduced", "full");
        else
            Int8Weights.AcceptOnlyFromAmong("auto", "reduced", "full");
    }

    public Option<string> Quantize { get; }
    public Option<string> Int8Weights { get; }

    /// <summary>For commands that run the model here (auto allowed).</summary>
    public static PrecisionOptions ForRunning() => new(export: false);

    /// <summary>For export: the file runs on machines we do not know, so the default is the form exact everywhere.</summary>
    public static PrecisionOptions ForExport() => new(export: true);

    public Models.Quantization Quantization(ParseResult parse) => parse.GetValue(Quantize) == "int8" ? Models.Quantization.Int8 : Models.Quantization.None;

    public Models.Int8Weights Weights(ParseResult parse) => parse.GetValue(Int8Weights) switch
    {
        "full" => Models.Int8Weights.FullRange,
        "reduced" => Models.Int8Weights.ReducedRange,
        _ => Models.Int8Weights.Auto,
    };

    /// <summary><paramref name="options"/> with the precision asked for on the command line.</summary>
    public TextClassifierOptions Apply(ParseResult parse, TextClassifierOptions? options = null) =>
        (options ?? new TextClassifierOptions()) with { Quantization = Quantization(parse), Int8Weights = Weights(parse) };
}
