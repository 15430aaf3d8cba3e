using System.Text.Json;
using Nuansa.Cli;
using Nuansa.Tests.Cli;
using Nuansa.Training;

namespace Nuansa.Tests.Training;

/// <summary>What a training run shows while it runs, and which weights it saves (HF's load_best_model_at_end).</summary>
public class TrainingOutputTests
{
    private static readonly string Model = SharedFiles.Model("bert-2label");

    [Fact]
    public void EvaluationsAndCheckpointsAreShownWhenTheyHappenAndProgressEveryLoggingSteps()
    {
        // 4 epochs of one step: an evaluation after each, checkpoints after epochs 1–3, a limit of 2 removes the first.
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("t.tsv"), "text\tlabel\ngood\tpositive\nbad\tnegative\n");
        var (code, output, error) = CliRunner.Run("train", "--model", Model, "--train", dir.File("t.tsv"), "--validation", dir.File("t.tsv"), "--output", dir.File("out"),
            "--num-train-epochs", "4", "--per-device-train-batch-size", "2", "--save-total-limit", "2", "--logging-steps", "2");
        Assert.True(code == 0, error);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("training on 2 examples, validating on 2; 4 optimizer steps", lines[0]);
        string[] kinds = ["eval step 1 ", "saved checkpoint-1:", "eval step 2 ", "saved checkpoint-2:", "eval step 3 ", "saved checkpoint-3:", "eval step 4 ", "trained 4 steps"];
        Assert.Equal(kinds, lines.Skip(1).Select(l => kinds.FirstOrDefault(l.StartsWith) ?? l));
        Assert.EndsWith("(best loss so far)", lines[1], StringComparison.Ordinal);
        Assert.Contains("2 checkpoints kept", lines[6]);
        Assert.EndsWith("(removed checkpoint-1)", lines[6], StringComparison.Ordinal);
        // The size shown is the folder's (model, optimizer moments, state), in decimal units.
        var bytes = new DirectoryInfo(dir.File("out-checkpoints/checkpoint-3")).EnumerateFiles().Sum(f => f.Length);
        Assert.StartsWith($"saved checkpoint-3: {TrainingConsole.Size(bytes)};", lines[6], StringComparison.Ordinal);

        // Not a terminal: the first step, every 2nd and the last.
        var progress = error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["step 1/4", "step 2/4", "step 4/4"], progress.Select(l => l[..8]));
        Assert.All(progress, l => Assert.Matches(@"\] +\d+%  epoch [\d.]+  loss [\d.]+  lr [\d.]+e[-+]\d+  \d+ tokens/s  \d\d:\d\d elapsed, \d\d:\d\d left$", l));
    }

    [Fact]
    public void OnATerminalTheBarIsRedrawnInPlaceAndClearedForEachLine()
    {
        var (stdout, stderr) = (new StringWriter(), new StringWriter());
        var console = new TrainingConsole(stdout, stderr, terminal: true, loggingSteps: 500, metric: "f1_macro");
        console.Report(new TrainingStarted(0, 10, 80, 20, ["classifier.weight", "classifier.bias"]));
        console.Report(new TrainingProgress(1, 10, 0.1, 0.7, 1e-5, 900, TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(27)));
        console.Report(new TrainingProgress(2, 10, 0.2, 0.6, 2e-5, 900, TimeSpan.FromSeconds(6), TimeSpan.FromSeconds(24)));
        console.Report(new TrainingEvaluated(new EvaluationRecord(2, 0.2, new Dictionary<string, double> { ["loss"] = 0.5, ["f1_macro"] = 0.75, ["topic/accuracy"] = 0.5, ["topic/f1_macro"] = 0.25 }), IsBest: true));
        console.Finish();
        Assert.Equal("newly initialized (the checkpoint had no such weights, or other shapes; train before use): classifier.weight, classifier.bias\n" +
            "training on 80 examples, validating on 20; 10 optimizer steps\n" +
            "eval step 2 epoch 0.20: loss 0.5000  f1_macro 0.7500  (best f1_macro so far)\n" +
            "  topic: accuracy 0.5000  f1_macro 0.2500\n", stdout.ToString());
        Assert.Equal(
            "\rstep 1/10 [##..................]  10%  epoch 0.10  loss 0.7000  lr 1.00e-5  900 tokens/s  00:03 elapsed, 00:27 left\u001b[K" +
            // The loss shown is the mean over the logging window, as HF logs it: (0.7 + 0.6) / 2.
            "\rstep 2/10 [####................]  20%  epoch 0.20  loss 0.6500  lr 2.00e-5  900 tokens/s  00:06 elapsed, 00:24 left\u001b[K" +
            "\r\u001b[K", stderr.ToString()); // cleared for the evaluation line; Finish adds no empty line after it
    }

    [Fact]
    public void TheLastStepsWeightsAreSavedUnlessTheBestAreAskedFor()
    {
        // Validated on the training texts with every label flipped: the better the model learns, the worse the validation
        // loss, so the best evaluation comes early and the last is not it. With a constant learning rate, a run of
        // best_step steps has exactly the weights load_best_model_at_end restores from the longer run.
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("t.tsv"), "text\tlabel\ngood film\tpositive\nbad film\tnegative\nfine plot\tpositive\nawful plot\tnegative\n");
        File.WriteAllText(dir.File("v.tsv"), "text\tlabel\ngood film\tnegative\nbad film\tpositive\nfine plot\tnegative\nawful plot\tpositive\n");
        string[] common = ["train", "--model", Model, "--train", dir.File("t.tsv"), "--validation", dir.File("v.tsv"), "--per-device-train-batch-size", "4",
            "--eval-steps", "1", "--lr-scheduler-type", "constant", "--learning-rate", "1e-3", "--no-checkpoints", "--no-shuffle", "--seed", "3"];
        var (code, output, error) = CliRunner.Run([.. common, "--max-steps", "4", "--load-best-model-at-end", "--output", dir.File("best")], "");
        Assert.True(code == 0, error);
        Assert.Contains("its weights saved", output);
        using var args = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dir.File("best"), Trainer.SummaryFileName)));
        var bestStep = args.RootElement.GetProperty("best_step").GetInt32();
        Assert.True(bestStep < 4, $"the best evaluation was the last (step {bestStep}): the test shows nothing");
        Assert.Equal(bestStep, args.RootElement.GetProperty("saved_step").GetInt32());

        (code, output, error) = CliRunner.Run([.. common, "--max-steps", "4", "--output", dir.File("last")], "");
        Assert.True(code == 0, error);
        Assert.Contains("the last step's weights saved", output);
        using var lastArgs = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dir.File("last"), Trainer.SummaryFileName)));
        Assert.Equal(4, lastArgs.RootElement.GetProperty("saved_step").GetInt32());
        (code, _, error) = CliRunner.Run([.. common, "--max-steps", bestStep.ToString(System.Globalization.CultureInfo.InvariantCulture), "--output", dir.File("short")], "");
        Assert.True(code == 0, error);

        byte[] Weights(string name) => File.ReadAllBytes(Path.Combine(dir.File(name), "model.safetensors"));
        Assert.Equal(Weights("short"), Weights("best"));
        Assert.NotEqual(Weights("short"), Weights("last"));
        // The cards report the validation metrics of the weights each folder holds.
        var card = File.ReadAllText(Path.Combine(dir.File("last"), "README.md"));
        Assert.Contains("with the saved weights (step 4)", card);
        var lastLoss = lastArgs.RootElement.GetProperty("saved_metrics").GetProperty("loss").GetDouble();
        Assert.Contains(FormattableString.Invariant($"| loss | {lastLoss:0.0000} |"), card);
        Assert.Contains($"with the saved weights (step {bestStep}, the best evaluation)", File.ReadAllText(Path.Combine(dir.File("best"), "README.md")));
    }

    [Fact]
    public void EarlyStoppingNeedsTheBestWeightsLoadedAtTheEnd()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("t.tsv"), "text\tlabel\ngood\tpositive\nbad\tnegative\n");
        var (code, _, error) = CliRunner.Run("train", "--model", Model, "--train", dir.File("t.tsv"), "--output", dir.File("out"), "--early-stopping-patience", "2");
        Assert.Equal(1, code);
        Assert.Contains("--early-stopping-patience needs --load-best-model-at-end", error);
        Assert.Single(error.Trim().Split('\n'));
        Assert.False(Directory.Exists(dir.File("out")));
    }

    [Fact]
    public void ACheckpointWhoseBestWeightsAreItsOwnDoesNotStoreThemTwice()
    {
        // Accuracy only improves (or stays) on this easy set at first: the best evaluation is the checkpoint's own step.
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("t.tsv"), "text\tlabel\ngood\tpositive\nbad\tnegative\n");
        var (code, _, error) = CliRunner.Run("train", "--model", Model, "--train", dir.File("t.tsv"), "--validation", dir.File("t.tsv"), "--output", dir.File("out"),
            "--num-train-epochs", "2", "--per-device-train-batch-size", "2", "--load-best-model-at-end", "--learning-rate", "1e-4");
        Assert.True(code == 0, error);
        var checkpoint = dir.File("out-checkpoints/checkpoint-1");
        using var state = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(checkpoint, "trainer_state.json")));
        Assert.Equal(1, state.RootElement.GetProperty("best").GetProperty("Step").GetInt32());
        Assert.True(state.RootElement.GetProperty("best_is_model").GetBoolean());
        Assert.False(File.Exists(Path.Combine(checkpoint, "best_model.safetensors")));
    }

    [Theory]
    [InlineData("focal")]
    [InlineData("smoothing")]
    public void TheEvaluationLossIsTheTrainingObjective(string objective)
    {
        // One step, evaluated right after: the saved weights are those evaluated, so the loss can be recomputed by hand
        // from the model's own logits (all validation rows in one batch).
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("t.tsv"), "text\tlabel\ngood film\tpositive\nbad film\tnegative\nfine plot\tpositive\nawful plot\tnegative\n");
        File.WriteAllText(dir.File("v.tsv"), "text\tlabel\ngreat plot\tpositive\nawful film\tnegative\nso so\tnegative\n");
        string[] extra = objective == "focal" ? ["--loss", "focal", "--focal-gamma", "2"] : ["--label-smoothing-factor", "0.2"];
        var (code, _, error) = CliRunner.Run(["train", "--model", Model, "--train", dir.File("t.tsv"), "--validation", dir.File("v.tsv"), "--output", dir.File("out"),
            "--max-steps", "1", "--eval-steps", "1", "--no-checkpoints", "--class-weights", "1,3", "--per-device-eval-batch-size", "8", .. extra], "");
        Assert.True(code == 0, error);
        var logged = File.ReadLines(Path.Combine(dir.File("out"), Trainer.LogFileName)).Select(l => JsonDocument.Parse(l).RootElement)
            .Single(e => e.TryGetProperty("eval_loss", out _)).GetProperty("eval_loss").GetDouble();

        using var classifier = Nuansa.Inference.TextClassifier.Load(dir.File("out"));
        (string Text, int Label)[] rows = [("great plot", 1), ("awful film", 0), ("so so", 0)];
        double[] weights = [1, 3];
        double sum = 0, weightSum = 0;
        foreach (var (text, label) in rows)
        {
            var z = classifier.Classify(text).Logits.Select(v => (double)v).ToArray();
            var max = z.Max();
            var logSum = Math.Log(z.Sum(v => Math.Exp(v - max))) + max;
            var logP = z.Select(v => v - logSum).ToArray();
            var w = weights[label];
            weightSum += w;
            // torch: focal (1 − p)^γ · (−log p), class-weighted; smoothing (1 − ε)·nll + ε/C · Σ_c w_c·(−log p_c), over Σ w[y].
            sum += objective == "focal"
                ? w * Math.Pow(1 - Math.Exp(logP[label]), 2) * -logP[label]
                : 0.8 * w * -logP[label] + 0.2 / 2 * (weights[0] * -logP[0] + weights[1] * -logP[1]);
        }
        Assert.Equal(sum / weightSum, logged, 5);
    }
}
