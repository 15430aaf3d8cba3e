using System.Diagnostics;

namespace Nuansa.Tests.Cli;

/// <summary>
/// Everyday mistakes, tried as a new user would: each must end with exit code 1, exactly one line on standard error
/// that says what was wrong, no stack trace, nothing on standard output, and no file changed or added.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public class UserMistakeTests
{
    private static readonly string Model = SharedFiles.Model("bert-2label");

    /// <summary>A case: files to create (name → content; null content makes a folder), arguments, what the line must say.</summary>
    private sealed record Mistake(string[] Args, string Says, Dictionary<string, byte[]?>? Files = null);

    private static byte[] Text(string s) => System.Text.Encoding.UTF8.GetBytes(s);

    private static readonly string PairModel = SharedFiles.Model("bert-pair-3label");

    private static readonly byte[] Pairs = Text("{\"text\": \"service\", \"sentence\": \"the staff were kind\", \"label\": \"positive\"}\n" +
        "{\"text\": \"price\", \"sentence\": \"far too expensive\", \"label\": \"negative\"}\n");

    private static readonly Dictionary<string, Mistake> Cases = new()
    {
        ["truncation not one of HF's"] = new(["tokenize", "--model", Model, "--truncation", "left"], "--truncation: Argument 'left' not recognized. Must be one of: 'longest_first', 'only_first'"),
        ["training file with a header and no rows"] = new(["train", "--model", Model, "--train", "{dir}/empty.tsv", "--output", "{dir}/out"], "no training examples",
            new() { ["empty.tsv"] = Text("text\tlabel\n") }),
        ["training data of one class"] = new(["train", "--model", Model, "--train", "{dir}/one.tsv", "--output", "{dir}/out"], "every training example has label \"positive\"",
            new() { ["one.tsv"] = Text("text\tlabel\ngood\tpositive\nfine\tpositive\nnice\tpositive\n") }),
        ["training data that is Latin-1"] = new(["train", "--model", Model, "--train", "{dir}/latin1.tsv", "--output", "{dir}/out"], "latin1.tsv, line 3: the file is not valid UTF-8",
            new() { ["latin1.tsv"] = [.. Text("text\tlabel\ngood\tpositive\ncaf"), 0xE9, .. Text("\tnegative\n")] }),
        ["classify input that is Latin-1"] = new(["classify", "--model", Model, "--input", "{dir}/latin1.tsv"], "latin1.tsv, line 2: the file is not valid UTF-8",
            new() { ["latin1.tsv"] = [.. Text("text\ncaf"), 0xE9, .. Text("\n")] }),
        ["train max length past the position table"] = new(["train", "--model", Model, "--train", "{dir}/t.tsv", "--output", "{dir}/out", "--max-length", "1000"], "--max-length 1000 is more than the 512 tokens",
            new() { ["t.tsv"] = Text("text\tlabel\n" + string.Concat(Enumerable.Repeat("word ", 900)) + "\tpositive\nbad\tnegative\n") }),
        ["classify max length past the position table"] = new(["classify", "--model", Model, "--max-length", "100000", "hi"], "max length 100000 is more than the 512 tokens"),
        ["train into a folder that is not empty"] = new(["train", "--model", Model, "--train", "{dir}/t.tsv", "--output", "{dir}/full"], "the output folder is not empty",
            new() { ["t.tsv"] = Text("text\tlabel\ngood\tpositive\nbad\tnegative\n"), ["full"] = null, ["full/keep.txt"] = Text("mine") }),
        ["export into a folder that is not empty"] = new(["export", "--model", Model, "--output", "{dir}/full"], "the output folder is not empty",
            new() { ["full"] = null, ["full/keep.txt"] = Text("mine") }),
        ["init over a file"] = new(["init", "--model-type", "bert", "--vocab", Path.Combine(Model, "vocab.txt"), "--labels", "a,b", "--output", "{dir}/afile"], "a file is in the way",
            new() { ["afile"] = Text("mine") }),
        ["eval output under a file"] = new(["eval", "--model", Model, "--data", "{dir}/t.tsv", "--output", "{dir}/afile/eval"], "is a file, so nothing can be written under it",
            new() { ["t.tsv"] = Text("text\tlabel\ngood\tpositive\n"), ["afile"] = Text("mine") }),
        ["output on a read-only file system"] = new(["classify", "--model", Model, "--output", "/proc/nuansa-test/out.jsonl", "hi"], "cannot write in '/proc'"),
        ["output that is a folder"] = new(["classify", "--model", Model, "--output", "{dir}", "hi"], "is a folder, not a file"),
        ["output file that is read-only"] = new(["tokenize", "--model", Model, "--output", "{dir}/readonly.jsonl"], "the file is read-only",
            new() { ["readonly.jsonl"] = Text("mine") }),
        ["port past 65535"] = new(["serve", "--model", Model, "--port", "70000"], "--port must be a TCP port from 0 to 65535, not 70000"),
        ["host that is a name"] = new(["serve", "--model", Model, "--host", "nosuchhost.invalid"], "--host must be an IP address or localhost"),
        ["negative threads"] = new(["classify", "--model", Model, "--threads", "-1", "hi"], "--threads must be at least 0, not -1"),
        ["zero batch size"] = new(["classify", "--model", Model, "--batch-size", "0", "hi"], "--batch-size must be at least 1, not 0"),
        ["negative token budget"] = new(["classify", "--model", Model, "--max-batch-tokens", "-1", "hi"], "--max-batch-tokens must be at least 0, not -1"),
        ["learning rate NaN"] = new(["train", "--model", Model, "--train", "{dir}/t.tsv", "--output", "{dir}/out", "--learning-rate", "NaN"], "--learning-rate must be a finite number",
            new() { ["t.tsv"] = Text("text\tlabel\ngood\tpositive\nbad\tnegative\n") }),
        ["unknown metric for the best model"] = new(["train", "--model", Model, "--train", "{dir}/t.tsv", "--output", "{dir}/out", "--metric-for-best-model", "acc"],
            "Unknown metric_for_best_model \"acc\"", new() { ["t.tsv"] = Text("text\tlabel\ngood\tpositive\nbad\tnegative\n") }),
        ["model that is a weights file"] = new(["inspect", "--model", Path.Combine(Model, "model.safetensors")], "is a file; give the checkpoint folder"),
        ["model folder missing"] = new(["classify", "--model", "{dir}/nothing", "hi"], "no such file or folder"),
        ["pipeline file that is not JSON"] = new(["pipeline", "--config", "{dir}/p.json", "hi"], "not valid JSON",
            new() { ["p.json"] = Text("not json\nat all\n") }),
        ["serve a pipeline without steps"] = new(["serve", "--pipeline", "{dir}/p.json", "--port", "0"], "A pipeline needs at least one step",
            new() { ["p.json"] = Text("{\"steps\": []}") }),
        ["serve a model that is not there"] = new(["serve", "--model", "{dir}/nothing", "--port", "0"], "no such file or folder"),
        ["unknown column"] = new(["classify", "--model", Model, "--input", "{dir}/t.tsv", "--text-column", "body"], "no column \"body\"",
            new() { ["t.tsv"] = Text("text\nhello\n") }),
        ["classify pair column misspelled"] = new(["classify", "--model", PairModel, "--input", "{dir}/p.jsonl", "--pair-column", "sentance"],
            "no column \"sentance\" for the pair text (columns: text, sentence, label)", new() { ["p.jsonl"] = Pairs }),
        ["eval pair column misspelled"] = new(["eval", "--model", PairModel, "--data", "{dir}/p.jsonl", "--pair-column", "sentance", "--output", "{dir}/eval"],
            "no column \"sentance\" for the pair text", new() { ["p.jsonl"] = Pairs }),
        ["train pair column misspelled"] = new(["train", "--model", PairModel, "--train", "{dir}/p.jsonl", "--pair-column", "sentance", "--output", "{dir}/out"],
            "no column \"sentance\" for the pair text", new() { ["p.jsonl"] = Pairs }),
        ["eval label column misspelled"] = new(["eval", "--model", Model, "--data", "{dir}/t.tsv", "--label-column", "lable", "--output", "{dir}/eval"],
            "no column \"lable\" for the label (columns: text, label)", new() { ["t.tsv"] = Text("text\tlabel\ngood\tpositive\n") }),
        ["eval group column misspelled"] = new(["eval", "--model", Model, "--data", "{dir}/t.tsv", "--group-column", "lang", "--output", "{dir}/eval"],
            "no column \"lang\" for the group", new() { ["t.tsv"] = Text("text\tlabel\ngood\tpositive\n") }),
        ["thresholds text column misspelled"] = new(["thresholds", "--model", Model, "--data", "{dir}/t.tsv", "--label", "positive", "--target-precision", "0.9", "--text-column", "txt"],
            "no column \"txt\" for the text", new() { ["t.tsv"] = Text("text\tlabel\ngood\tpositive\n") }),
        ["augment label column misspelled"] = new(["augment", "--input", "{dir}/t.tsv", "--output", "{dir}/a.tsv", "--label-column", "lable"],
            "no column \"lable\" for the label", new() { ["t.tsv"] = Text("text\tlabel\ngood\tpositive\n") }),
        ["option misspelled after a text"] = new(["classify", "--model", Model, "hi", "--topk", "2"], "unknown option '--topk' (did you mean '--top-k'?)"),
        ["command misspelled"] = new(["clasify", "--model", Model, "hi"], "'clasify' is not a nuansa command (did you mean 'classify'?)"),
        ["target precision as a percentage"] = new(["thresholds", "--model", Model, "--data", "{dir}/t.tsv", "--label", "positive", "--target-precision", "90"],
            "--target-precision is a number from 0 to 1, not 90", new() { ["t.tsv"] = Text("text\tlabel\ngood\tpositive\n") }),
        ["plain text where JSON Lines are expected"] = new(["tokenize", "--model", Model, "--input", "{dir}/plain.jsonl"],
            "line 1: expected one JSON object per line, such as {\"text\": \"...\"}, not plain text", new() { ["plain.jsonl"] = Text("just a sentence\n") }),
        ["an input line past the limit"] = new(["classify", "--model", Model, "--input", "{dir}/huge.jsonl"], "line 2: longer than 16777216 characters, the limit of one line",
            new() { ["huge.jsonl"] = [.. Text("{\"text\": \"ok\"}\n{\"text\": \""), .. Enumerable.Repeat((byte)'a', 17_000_000), .. Text("\"}\n")] }),
        ["a TSV line past the limit"] = new(["classify", "--model", Model, "--input", "{dir}/huge.tsv"], "line 2: longer than 16777216 characters",
            new() { ["huge.tsv"] = [.. Text("text\n"), .. Enumerable.Repeat((byte)'a', 17_000_000), .. Text("\n")] }),
        ["a worker's Redis address that is not one"] = new(["worker", "--model", Model, "--redis", "redis://host:notaport", "--stream", "s", "--group", "g"],
            "--redis 'redis://host:notaport' is not a Redis URL"),
        ["early stopping without evaluation data"] = new(["train", "--model", Model, "--train", "{dir}/t.tsv", "--output", "{dir}/out", "--load-best-model-at-end"],
            "need evaluation data", new() { ["t.tsv"] = Text("text\tlabel\ngood\tpositive\nbad\tnegative\n") }),
    };


    public static TheoryData<string> CaseNames() => [.. Cases.Keys];

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void AMistakeGetsOneLineExitCodeOneAndChangesNothing(string name)
    {
        var mistake = Cases[name];
        using var dir = new TempDirectory();
        foreach (var (file, content) in mistake.Files ?? [])
        {
            if (content == null)
                Directory.CreateDirectory(dir.File(file));
            else
                File.WriteAllBytes(dir.File(file), content);
        }
        if (File.Exists(dir.File("readonly.jsonl")))
            File.SetUnixFileMode(dir.File("readonly.jsonl"), UnixFileMode.UserRead);
        var before = Snapshot(dir.Path);

        var (code, output, error) = CliRunner.Run([.. mistake.Args.Select(a => a.Replace("{dir}", dir.Path, StringComparison.Ordinal))]);

        Assert.Equal(1, code);
        Assert.Equal("", output);
        var lines = error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"expected one line, got:\n{error}");
        Assert.StartsWith("error: ", lines[0], StringComparison.Ordinal);
        Assert.Contains(mistake.Says, lines[0], StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", error, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", error, StringComparison.Ordinal);
        Assert.Equal(before, Snapshot(dir.Path));
        Assert.False(Directory.Exists(dir.File("out-checkpoints")), "checkpoints were written before the mistake was found");
    }

    [Fact]
    public void MetricNamesTakeHfsEvalPrefix()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("t.tsv"), "text\tlabel\ngood\tpositive\nbad\tnegative\nfine\tpositive\nawful\tnegative\n");
        var (code, output, error) = CliRunner.Run("train", "--model", Model, "--train", dir.File("t.tsv"), "--validation", dir.File("t.tsv"), "--output", dir.File("out"),
            "--max-steps", "1", "--no-checkpoints", "--metric-for-best-model", "eval_f1_macro");
        Assert.True(code == 0, error);
        Assert.Contains("best f1_macro", output, StringComparison.Ordinal);
    }

    [Fact]
    public void SaveTotalLimitKeepsTheNewestCheckpoints()
    {
        // 4 epochs of one step each: checkpoints after epochs 1–3 (none after the last); a limit of 2 keeps steps 2 and 3.
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("t.tsv"), "text\tlabel\ngood\tpositive\nbad\tnegative\n");
        var (code, _, error) = CliRunner.Run("train", "--model", Model, "--train", dir.File("t.tsv"), "--validation", dir.File("t.tsv"), "--output", dir.File("out"),
            "--num-train-epochs", "4", "--per-device-train-batch-size", "2", "--save-total-limit", "2");
        Assert.True(code == 0, error);
        Assert.Equal(["checkpoint-2", "checkpoint-3"], Directory.GetDirectories(dir.File("out-checkpoints")).Select(Path.GetFileName).Order());
    }

    [Fact]
    public void EmptyStandardInputTokenizesToNothing()
    {
        var (code, output, error) = CliRunner.Run(["tokenize", "--model", Model], "");
        Assert.Equal(0, code);
        Assert.Equal("", output);
        Assert.Equal("", error);
    }

    [Fact]
    public void ACharacterDeviceStaysADevice()
    {
        // As root, a rename over /dev/null would replace the device with a regular file holding the output. The test
        // writes to its own null device (mknod, as root) so a regression cannot break the machine; without root it
        // uses /dev/null, which it then could not replace anyway.
        using var dir = new TempDirectory();
        var device = dir.File("null");
        using (var mknod = Process.Start(new ProcessStartInfo("mknod", [device, "c", "1", "3"]) { RedirectStandardError = true })!)
            mknod.WaitForExit();
        if (!File.Exists(device))
            device = "/dev/null";
        var (code, _, error) = CliRunner.Run("classify", "--model", Model, "--output", device, "a text");
        Assert.True(code == 0, error);
        Assert.Equal("character special file", Stat(device));
        Assert.Equal(0, new FileInfo(device).Length);
    }

    [Fact]
    public void ASymlinkIsWrittenThroughAndKept()
    {
        using var dir = new TempDirectory();
        Directory.CreateDirectory(dir.File("real"));
        File.WriteAllText(dir.File("real/out.jsonl"), "old");
        File.CreateSymbolicLink(dir.File("link.jsonl"), dir.File("real/out.jsonl"));
        var (code, _, error) = CliRunner.Run("classify", "--model", Model, "--output", dir.File("link.jsonl"), "a text");
        Assert.True(code == 0, error);
        Assert.NotNull(new FileInfo(dir.File("link.jsonl")).LinkTarget);
        Assert.StartsWith("{\"labels\":", File.ReadAllText(dir.File("real/out.jsonl")), StringComparison.Ordinal);
        Assert.Equal(["out.jsonl"], Directory.GetFiles(dir.File("real")).Select(Path.GetFileName));
    }

    [Fact]
    public async Task AFifoIsWrittenInPlace()
    {
        using var dir = new TempDirectory();
        var fifo = dir.File("pipe");
        using (var mkfifo = Process.Start("mkfifo", fifo))
            mkfifo.WaitForExit();
        var reader = Task.Run(() => File.ReadAllText(fifo));
        var (code, _, error) = CliRunner.Run("classify", "--model", Model, "--output", fifo, "a text");
        Assert.True(code == 0, error);
        Assert.StartsWith("{\"labels\":", await reader.WaitAsync(TimeSpan.FromSeconds(30)), StringComparison.Ordinal);
        Assert.Equal("fifo", Stat(fifo));
        Assert.Equal(["pipe"], Directory.GetFileSystemEntries(dir.Path).Select(Path.GetFileName));
    }

    /// <summary>Every file and folder under <paramref name="root"/> with its size, permissions and content hash.</summary>
    private static string Snapshot(string root) => string.Join("\n", Directory.GetFileSystemEntries(root, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
        .Select(p => File.Exists(p)
            ? $"{p} {new FileInfo(p).Length} {File.GetUnixFileMode(p)} {Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(p)))}"
            : $"{p}/"));

    private static string Stat(string path)
    {
        using var stat = Process.Start(new ProcessStartInfo("stat", ["-c", "%F", path]) { RedirectStandardOutput = true })!;
        var type = stat.StandardOutput.ReadToEnd().Trim();
        stat.WaitForExit();
        return type;
    }
}
