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

    /// <summary>A comma-separated list, entries trimmed, empty ones dropped.</summary>
    public static string[] List(string text) => [.. text.Split(',').Select(s => s.Trim()).Where(s => s.Length > 0)];
}
