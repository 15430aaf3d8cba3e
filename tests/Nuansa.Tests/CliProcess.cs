using System.Diagnostics;

namespace Nuansa.Tests;

/// <summary>The nuansa CLI in a process of its own (for what an in-process run cannot show: signals, threads, another CPU).</summary>
internal static class CliProcess
{
    /// <summary>The dotnet host running the tests (DOTNET_HOST_PATH), else the one on PATH.</summary>
    public static string Dotnet =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host
        : Which("dotnet") ?? throw new InvalidOperationException("dotnet is not on PATH.");

    public static string CliDll => Path.Combine(AppContext.BaseDirectory, "Nuansa.Cli.dll");

    /// <summary>A start description for <c>dotnet Nuansa.Cli.dll args...</c> with both output streams redirected.</summary>
    public static ProcessStartInfo Start(params string[] args)
    {
        var start = new ProcessStartInfo(Dotnet) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in (string[])[CliDll, .. args])
            start.ArgumentList.Add(a);
        return start;
    }

    /// <summary>A program on PATH, or null.</summary>
    public static string? Which(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);
}
