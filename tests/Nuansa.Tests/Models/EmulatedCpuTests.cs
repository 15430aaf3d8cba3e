using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Nuansa.Tests.Models;

/// <summary>
/// The int8 path of CPUs this machine may not be: the <c>nuansa</c> command run under QEMU's user-mode emulator as
/// an AVX2-only Haswell (no AVX-512, no VNNI), so ONNX Runtime picks its AVX2 int8 kernel whatever the host is.
/// On a VNNI host the native tests cover the 8-bit form and these the 7-bit one; on an AVX2 host both run the same path.
/// </summary>
[Trait("Category", "Slow")]
public class EmulatedCpuTests
{
    [Theory]
    [InlineData("bert-pair-3label")]
    [InlineData("distilbert-3label")]
    [InlineData("roberta-2label")]
    public void Int8OnAnAvx2OnlyCpuPicksSevenBitWeightsAndKeepsHuggingFacesScores(string model)
    {
        var folder = SharedFiles.Model(model);
        using var dir = new TempDirectory();
        var (texts, probs) = FixtureInputs(folder, dir.File("inputs.jsonl"));
        var (code, output, error) = RunEmulated("classify", "--model", folder, "--quantize", "int8", "--input", dir.File("inputs.jsonl"), "--top-k", "all", "--max-length", "32");
        Assert.True(code == 0, error);
        Assert.Contains("7-bit weights", error, StringComparison.Ordinal);
        Assert.Contains("AVX2 without VNNI", error, StringComparison.Ordinal);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(texts, lines.Length);
        var labels = Nuansa.Checkpoints.ModelConfig.Load(folder).Id2Label;
        for (var i = 0; i < lines.Length; i++)
        {
            var scores = JsonNode.Parse(lines[i])!["labels"]!.AsArray().ToDictionary(l => (string)l!["label"]!, l => (float)l!["score"]!);
            for (var label = 0; label < labels.Count; label++)
                Assert.True(Math.Abs(probs[i][label] - scores[labels[label]]) <= 0.03, $"{model} input {i} {labels[label]}: {scores[labels[label]]} vs HF {probs[i][label]}");
        }
    }

    [Fact]
    public void FullRangeWeightsOnAnAvx2OnlyCpuAreNamedAsInexact()
    {
        var (code, _, error) = RunEmulated("classify", "--model", SharedFiles.Model("bert-2label"), "--quantize", "int8", "--int8-weights", "full", "a text");
        Assert.True(code == 0, error);
        Assert.Contains("NOT exact here", error, StringComparison.Ordinal);
    }

    /// <summary>The fixture's texts as JSON Lines for classify, and HF's probabilities for them.</summary>
    private static (int Count, float[][] Probs) FixtureInputs(string folder, string path)
    {
        using var inputs = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(folder, "inputs.json")));
        using var expected = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(folder, "expected.json")));
        var lines = inputs.RootElement.GetProperty("texts").EnumerateArray().Select(t =>
        {
            var line = new JsonObject { ["text"] = t.GetProperty("text").GetString() };
            if (t.GetProperty("text_pair").ValueKind == JsonValueKind.String)
                line["text_pair"] = t.GetProperty("text_pair").GetString();
            return line.ToJsonString();
        }).ToArray();
        File.WriteAllLines(path, lines);
        var probs = expected.RootElement.GetProperty("probs_batch").EnumerateArray().Select(p => p.EnumerateArray().Select(v => v.GetSingle()).ToArray()).ToArray();
        return (lines.Length, probs);
    }

    private static (int ExitCode, string Output, string Error) RunEmulated(params string[] args)
    {
        // The emulator itself crashes now and then (a signal inside QEMU, not in the emulated program): one more try.
        var run = RunEmulatedOnce(args);
        return run.Error.Contains("qemu: uncaught target signal", StringComparison.Ordinal) ? RunEmulatedOnce(args) : run;
    }

    private static (int ExitCode, string Output, string Error) RunEmulatedOnce(string[] args)
    {
        Assert.True(RuntimeInformation.ProcessArchitecture == Architecture.X64, "the emulated-CPU tests are for x64 hosts");
        var qemu = CliProcess.Which("qemu-x86_64")
            ?? throw new InvalidOperationException("qemu-x86_64 is missing: the AVX2 int8 tests run the CLI under it. `bash test.sh` installs it (Debian package qemu-user).");
        var start = new ProcessStartInfo(qemu) { RedirectStandardOutput = true, RedirectStandardError = true };
        // What .NET needs to run steadily under user-mode emulation: no double-mapped code pages, no background GC,
        // one JIT tier; and one ONNX Runtime thread.
        start.Environment["DOTNET_EnableWriteXorExecute"] = "0";
        start.Environment["DOTNET_gcConcurrent"] = "0";
        start.Environment["DOTNET_TieredCompilation"] = "0";
        foreach (var a in (string[])["-cpu", "Haswell", CliProcess.Dotnet, CliProcess.CliDll, .. args, "--threads", "1"])
            start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(3)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("the emulated CLI run took over 3 minutes");
        }
        // QEMU warns about CPUID bits its translator lacks (hle, rtm, ...); those lines are not ours.
        var errors = string.Join('\n', error.Result.Split('\n').Where(l => !l.StartsWith("qemu-x86_64: warning", StringComparison.Ordinal)));
        return (process.ExitCode, output.Result, errors);
    }
}
