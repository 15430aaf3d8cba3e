using Nuansa.Inference;

namespace Nuansa.Cli;

/// <summary>Option values shared by several commands.</summary>
internal static class CliParsing
{
    /// <summary>--tasks A,B,... with --task-labels x,y,...: tasks that share one label set.</summary>
    public static IReadOnlyList<TaskHead>? Tasks(string? tasks, string? labels)
    {
        if (tasks == null && labels == null)
            return null;
        if (tasks == null || labels == null)
            throw new NuansaException("--tasks and --task-labels go together.");
        return MultiTask.Uniform(List(tasks), List(labels));
    }

    /// <summary>A comma-separated list, entries trimmed, empty ones dropped.</summary>
    public static string[] List(string text) => [.. text.Split(',').Select(s => s.Trim()).Where(s => s.Length > 0)];
}
