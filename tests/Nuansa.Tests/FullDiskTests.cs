using System.Diagnostics;
using Nuansa.Tests.Cli;

namespace Nuansa.Tests;

/// <summary>
/// All or nothing on a full file system: a 1 MB tmpfs (mounted by the test; it needs root, as CI runs) cannot hold an
/// export or a trained model, and must be left empty, with one true line saying nothing was written.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class FullDiskTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly string _mount;

    public FullDiskTests()
    {
        _mount = _dir.File("small");
        Directory.CreateDirectory(_mount);
        using var mount = Process.Start(new ProcessStartInfo("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", _mount]) { RedirectStandardError = true })!;
        var error = mount.StandardError.ReadToEnd();
        mount.WaitForExit();
        Assert.True(mount.ExitCode == 0, $"the test mounts a 1 MB tmpfs and needs root for it: {error}");
    }

    public void Dispose()
    {
        using (var unmount = Process.Start("umount", _mount))
            unmount.WaitForExit();
        _dir.Dispose();
    }

    [Theory]
    [InlineData("export")]
    [InlineData("train")]
    public void AnOutputThatDoesNotFitLeavesNothingAndSaysSo(string command)
    {
        File.WriteAllText(_dir.File("t.tsv"), "text\tlabel\ngood\tpositive\nbad\tnegative\n");
        string[] args = command == "export"
            ? ["export", "--model", SharedFiles.Model("bert-2label"), "--output", Path.Combine(_mount, "out")]
            : ["train", "--model", SharedFiles.Model("bert-2label"), "--train", _dir.File("t.tsv"), "--output", Path.Combine(_mount, "out"), "--max-steps", "1", "--no-checkpoints"];
        var (code, output, error) = CliRunner.Run(args);
        Assert.Equal(1, code);
        Assert.Equal("", output.Split('\n').FirstOrDefault(l => l.StartsWith("trained", StringComparison.Ordinal)) ?? "");
        var line = Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("nothing was written", line, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_mount));
    }
}
