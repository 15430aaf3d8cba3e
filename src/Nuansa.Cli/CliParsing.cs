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

    /// <summary>--quantize none|int8: how the encoder's linear layers compute (see <see cref="Models.Quantization"/>).</summary>
    public static Option<string> QuantizeOption()
    {
        var option = new Option<string>("--quantize")
        {
            Description = "int8: dynamic int8 encoder linears (smaller, ~2-3x faster on CPUs with int8 dot products; scores differ slightly); none: float32.",
            DefaultValueFactory = _ => "none",
        };
        option.AcceptOnlyFromAmong("none", "int8");
        return option;
    }

    public static Models.Quantization Quantization(string value) => value == "int8" ? Models.Quantization.Int8 : Models.Quantization.None;

    /// <summary>A comma-separated list, entries trimmed, empty ones dropped.</summary>
    public static string[] List(string text) => [.. text.Split(',').Select(s => s.Trim()).Where(s => s.Length > 0)];
}
