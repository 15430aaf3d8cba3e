using System.Globalization;
using Nuansa.Training;

namespace Nuansa.Cli;

/// <summary>
/// Shows a training run as it goes: on a terminal a progress bar redrawn in place, otherwise a plain line every
/// <c>--logging-steps</c> steps (and at least every 30 s); evaluations, checkpoints and newly initialized weights on
/// standard output when they happen. Reports arrive on the training thread, so lines never interleave.
/// </summary>
internal sealed class TrainingConsole(TextWriter stdout, TextWriter error, bool terminal, int loggingSteps, string metric) : IProgress<TrainingEvent>
{
    private static readonly TimeSpan LineInterval = TimeSpan.FromSeconds(30);
    private TimeSpan lastLine;
    private bool barShown;
    private int firstStep;
    private double windowLoss;
    private int windowSteps;

    public void Report(TrainingEvent value)
    {
        switch (value)
        {
            case TrainingStarted s:
                firstStep = s.Step + 1;
                if (s.InitializedWeights.Count > 0)
                    Line($"newly initialized (the checkpoint had no such weights, or other shapes; train before use): {string.Join(", ", s.InitializedWeights)}");
                var resuming = s.Step > 0 ? $", resuming after step {s.Step}" : "";
                Line($"training on {s.TrainExamples} examples, " +
                    (s.ValidationExamples > 0 ? $"validating on {s.ValidationExamples}" : "no evaluation (give --validation or --validation-split)") +
                    $"; {s.TotalSteps} optimizer steps{resuming}");
                break;
            case TrainingProgress p:
                // As HF's logged "loss": the mean over the steps since the last line (on a terminal, since the last
                // --logging-steps boundary), not a mean over the whole epoch that hides where training is now.
                windowLoss += p.Loss;
                windowSteps++;
                var shownLoss = windowLoss / windowSteps;
                if (terminal)
                {
                    error.Write("\r" + Bar(p, shownLoss) + "\u001b[K");
                    barShown = true;
                    if (p.Step % loggingSteps == 0)
                        (windowLoss, windowSteps) = (0, 0);
                }
                else if (p.Step % loggingSteps == 0 || p.Step == p.TotalSteps || p.Step == firstStep || p.Elapsed - lastLine >= LineInterval)
                {
                    error.WriteLine(Bar(p, shownLoss));
                    lastLine = p.Elapsed;
                    (windowLoss, windowSteps) = (0, 0);
                }
                break;
            case TrainingEvaluated e:
                var shown = e.Record.Metrics.Where(m => !m.Key.Contains('/')).Select(m => string.Create(CultureInfo.InvariantCulture, $"{m.Key} {m.Value:0.0000}"));
                Line(string.Create(CultureInfo.InvariantCulture, $"eval step {e.Record.Step} epoch {e.Record.Epoch:0.00}: {string.Join("  ", shown)}") +
                    (e.IsBest ? $"  (best {metric} so far)" : ""));
                // Multi-task: one short line per task rather than every task's every metric.
                foreach (var task in e.Record.Metrics.Keys.Where(k => k.Contains('/')).Select(k => k[..k.IndexOf('/')]).Distinct())
                    Line(string.Create(CultureInfo.InvariantCulture, $"  {task}: accuracy {e.Record.Metrics[task + "/accuracy"]:0.0000}  f1_macro {e.Record.Metrics[task + "/f1_macro"]:0.0000}"));
                break;
            case CheckpointSaved c:
                Line($"saved {Path.GetFileName(c.Path)}: {Size(c.Bytes)}; {c.Kept} checkpoint{(c.Kept == 1 ? "" : "s")} kept, {Size(c.TotalBytes)} in {Path.GetDirectoryName(c.Path)}" +
                    (c.Removed.Count > 0 ? $" (removed {string.Join(", ", c.Removed.Select(Path.GetFileName))})" : ""));
                break;
        }
    }

    /// <summary>Ends the bar's line so what follows starts on its own.</summary>
    public void Finish()
    {
        if (barShown)
            error.WriteLine();
        barShown = false;
    }

    // Standard output and the bar may share a terminal: the bar is cleared first and redrawn by the next step.
    private void Line(string text)
    {
        if (barShown)
            error.Write("\r\u001b[K");
        barShown = false;
        stdout.WriteLine(text);
    }

    /// <summary>One progress line; <paramref name="loss"/> is the mean training loss over the logging window.</summary>
    internal static string Bar(TrainingProgress p, double loss)
    {
        const int width = 20;
        var done = (int)((long)p.Step * width / Math.Max(1, p.TotalSteps));
        return string.Create(CultureInfo.InvariantCulture,
            $"step {p.Step}/{p.TotalSteps} [{new string('#', done)}{new string('.', width - done)}] {100.0 * p.Step / Math.Max(1, p.TotalSteps),3:0}%  " +
            $"epoch {p.Epoch:0.00}  loss {loss:0.0000}  lr {p.LearningRate:0.00e+0}  {p.TokensPerSecond:0} tokens/s  {Clock(p.Elapsed)} elapsed, {Clock(p.Remaining)} left");
    }

    private static string Clock(TimeSpan t) =>
        t.TotalHours >= 1 ? string.Create(CultureInfo.InvariantCulture, $"{(int)t.TotalHours}:{t.Minutes:00}:{t.Seconds:00}") : string.Create(CultureInfo.InvariantCulture, $"{t.Minutes:00}:{t.Seconds:00}");

    internal static string Size(long bytes) => bytes switch
    {
        >= 1_000_000_000 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1e9:0.00} GB"),
        >= 1_000_000 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1e6:0.0} MB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1e3:0.0} kB"),
    };
}
