using System.Text.Json;
using System.Text.Json.Nodes;
using Nuansa.Checkpoints;
using Nuansa.Inference;

namespace Nuansa.Tests.Inference;

public class TextClassifierTests
{
    public static TheoryData<string> Models() => SharedFiles.Models();

    [Theory]
    [MemberData(nameof(Models))]
    public void ScoresAndPredictionsMatchHuggingFace(string model)
    {
        var folder = SharedFiles.Model(model);
        using var classifier = TextClassifier.Load(folder);
        using var inputs = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(folder, "inputs.json")));
        using var expected = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(folder, "expected.json")));
        var texts = inputs.RootElement.GetProperty("texts").EnumerateArray()
            .Select(t => new TextInput(t.GetProperty("text").GetString()!, t.GetProperty("text_pair").ValueKind == JsonValueKind.String ? t.GetProperty("text_pair").GetString() : null))
            .ToArray();
        // Batches of 5 grouped by length: results must not depend on padding or order.
        var results = classifier.ClassifyBatch(texts, new ClassifyOptions { TopK = null, MaxLength = 32, BatchSize = 5 });
        var probs = expected.RootElement.GetProperty("probs_batch").EnumerateArray().ToArray();
        var logits = expected.RootElement.GetProperty("logits_single").EnumerateArray().ToArray();
        var predicted = expected.RootElement.GetProperty("predicted").EnumerateArray().ToArray();
        var multiLabel = classifier.Config.ProblemType == "multi_label_classification";
        for (var i = 0; i < texts.Length; i++)
        {
            var r = results[i];
            Assert.Equal(classifier.Labels.Count, r.Labels.Count);
            for (var label = 0; label < classifier.Labels.Count; label++)
            {
                var score = r.Labels.Single(l => l.Label == classifier.Labels[label]).Score;
                Assert.True(Math.Abs(probs[i][label].GetSingle() - score) <= 1e-5, $"{model} input {i} label {label}: {score}");
                Assert.True(Math.Abs(logits[i][label].GetSingle() - r.Logits[label]) <= 1e-4, $"{model} input {i} logit {label}");
            }
            Assert.True(r.Labels.Zip(r.Labels.Skip(1)).All(p => p.First.Score >= p.Second.Score), "labels are best first");
            var expectedLabels = predicted[i].ValueKind == JsonValueKind.Array
                ? predicted[i].EnumerateArray().Select(p => p.GetString()!).ToArray()
                : [predicted[i].GetString()!];
            var actualLabels = multiLabel ? r.Labels.Where(l => l.Score > 0.5f).Select(l => l.Label).ToArray() : [r.Top.Label];
            Assert.Equal(expectedLabels.Order(), actualLabels.Order());
        }
    }

    [Fact]
    public void BatchesHoldAtMostBatchSizeInputsAndMaxBatchTokensPositions()
    {
        // Lengths sorted shortest first; a batch is padded to its last (longest) member.
        int[] lengths = [3, 3, 4, 5, 9, 9, 20];
        // 3 × 4 = 12 fits 12; 2 × 9 = 18 does not, so 5 and each 9 go alone, and 20 is over the budget by itself.
        static (int, int)[] Split(int[] lengths, int batch, int? tokens) => [.. TextClassifier.Batches(lengths, batch, tokens).Select(r => (r.Start.Value, r.End.Value))];
        Assert.Equal([(0, 3), (3, 4), (4, 5), (5, 6), (6, 7)], Split(lengths, 3, 12));
        Assert.Equal([(0, 3), (3, 6), (6, 7)], Split(lengths, 3, null));
        Assert.Equal([(0, 2), (2, 4), (4, 6), (6, 7)], Split(lengths, 2, 1000));
        Assert.Empty(Split([], 3, 12));
    }

    [Fact]
    public void ATokenBudgetChangesTheBatchesNotTheResults()
    {
        using var classifier = TextClassifier.Load(SharedFiles.Model("bert-pair-3label"));
        var texts = Enumerable.Range(1, 9).Select(n => new TextInput(string.Join(' ', Enumerable.Repeat("harga beras naik", n)))).ToArray();
        var unlimited = classifier.ClassifyBatch(texts, new ClassifyOptions { TopK = null, MaxBatchTokens = null });
        // 20 positions: one or two inputs per pass instead of all nine in one.
        var budgeted = classifier.ClassifyBatch(texts, new ClassifyOptions { TopK = null, MaxBatchTokens = 20 });
        for (var i = 0; i < texts.Length; i++)
        {
            for (var k = 0; k < unlimited[i].Logits.Count; k++)
                Assert.True(Math.Abs(unlimited[i].Logits[k] - budgeted[i].Logits[k]) <= 1e-5, $"input {i} logit {k}: {budgeted[i].Logits[k]} vs {unlimited[i].Logits[k]}");
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => classifier.ClassifyBatch(texts, new ClassifyOptions { MaxBatchTokens = 0 }));
    }

    public static TheoryData<string, Nuansa.Models.Int8Weights> ModelsAndInt8Forms() => Nuansa.Tests.Models.QuantizationTests.ModelsAndForms();

    [Theory]
    [MemberData(nameof(ModelsAndInt8Forms))]
    public void Int8KeepsHuggingFacesClearPredictions(string model, Nuansa.Models.Int8Weights form)
    {
        // Quantization moves probabilities a little: every prediction HF makes with a margin of 0.05 or more must stay.
        // Most move by less than 0.02; the 7-bit weights of the tiny bf16 multi-label model move one by 0.030.
        // Auto picks 7-bit weights on CPUs without VNNI (Zen 3): the tolerance follows the form resolved, not the one asked.
        var tolerance = Nuansa.Models.Int8Kernels.Resolve(form) == Nuansa.Models.Int8Weights.ReducedRange ? 0.04 : 0.03;
        var folder = SharedFiles.Model(model);
        using var classifier = TextClassifier.Load(folder, new TextClassifierOptions { Quantization = Nuansa.Models.Quantization.Int8, Int8Weights = form });
        Assert.Equal(Nuansa.Models.Int8Kernels.Resolve(form), classifier.Int8Weights);
        Assert.Contains(Nuansa.Models.Int8Kernels.CpuFeatures, classifier.Precision, StringComparison.Ordinal);
        using var inputs = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(folder, "inputs.json")));
        using var expected = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(folder, "expected.json")));
        var texts = inputs.RootElement.GetProperty("texts").EnumerateArray()
            .Select(t => new TextInput(t.GetProperty("text").GetString()!, t.GetProperty("text_pair").ValueKind == JsonValueKind.String ? t.GetProperty("text_pair").GetString() : null))
            .ToArray();
        var results = classifier.ClassifyBatch(texts, new ClassifyOptions { TopK = null, MaxLength = 32 });
        var probs = expected.RootElement.GetProperty("probs_batch").EnumerateArray().Select(p => p.EnumerateArray().Select(v => v.GetSingle()).ToArray()).ToArray();
        var checkedCount = 0;
        for (var i = 0; i < texts.Length; i++)
        {
            var sorted = probs[i].OrderDescending().ToArray();
            var score = results[i].Labels.ToDictionary(l => l.Label, l => l.Score);
            for (var label = 0; label < probs[i].Length; label++)
                Assert.True(Math.Abs(probs[i][label] - score[classifier.Labels[label]]) <= tolerance, $"{model} input {i} label {label}: {score[classifier.Labels[label]]} vs {probs[i][label]}");
            if (classifier.Config.ProblemType == "multi_label_classification" || sorted[0] - sorted[1] < 0.05f)
                continue;
            Assert.Equal(classifier.Labels[Array.IndexOf(probs[i], sorted[0])], results[i].Top.Label);
            checkedCount++;
        }
        Assert.True(checkedCount > 0 || classifier.Config.ProblemType == "multi_label_classification", $"{model}: no clear prediction to check");
    }

    [Fact]
    public void ClassifiesAContextTextPairLikeTheTokenizerPair()
    {
        using var classifier = TextClassifier.Load(SharedFiles.Model("bert-pair-3label"));
        var pair = classifier.Classify("battery", "the battery lasts all day", new ClassifyOptions { TopK = null });
        var same = classifier.ClassifyBatch([new TextInput("battery", "the battery lasts all day")], new ClassifyOptions { TopK = null })[0];
        var reversed = classifier.Classify("the battery lasts all day", "battery", new ClassifyOptions { TopK = null });
        Assert.Equal(same.Logits, pair.Logits);
        Assert.NotEqual(reversed.Logits, pair.Logits);
        Assert.Single(classifier.Classify("battery", "fine").Labels); // top-1 by default, as HF's pipeline
    }

    [Fact]
    public void EachHeadKindHasItsOwnResultType()
    {
        using var single = TextClassifier.Load(SharedFiles.Model("bert-2label"));
        Assert.Equal(HeadKind.SingleLabel, single.Head);
        var s = Assert.IsType<SingleLabelClassification>(single.Classify("fine"));
        Assert.Equal(HeadKind.SingleLabel, s.Kind);

        using var multi = TextClassifier.Load(SharedFiles.Model("bert-multilabel-4-bf16"));
        Assert.Equal(HeadKind.MultiLabel, multi.Head);
        var m = Assert.IsType<MultiLabelClassification>(multi.Classify("the room was clean", new ClassifyOptions { TopK = null }));
        // The labels that apply are those whose sigmoid reaches the threshold, best first.
        Assert.Equal(m.Labels.Where(l => l.Score >= 0.5f), m.Predicted());
        Assert.Equal(m.Labels, m.Predicted(0f));
        Assert.Empty(m.Predicted(1.01f));
    }

    [Fact]
    public void MultiTaskModelsGetASoftmaxPerTask()
    {
        // The 4-output fixture read as two tasks of two labels each: each task's scores are the softmax of its own logits.
        var tasks = MultiTask.Uniform(["cleanliness", "service"], ["negative", "positive"]);
        using var classifier = TextClassifier.Load(SharedFiles.Model("bert-multilabel-4-bf16"), new TextClassifierOptions { Tasks = tasks });
        var r = Assert.IsType<MultiTaskClassification>(classifier.Classify("the room was clean but the staff were rude", new ClassifyOptions { TopK = null }));
        Assert.Equal(HeadKind.MultiTask, classifier.Head);
        Assert.Equal(["cleanliness", "service"], r.Tasks.Keys.Order());
        // Every task's labels also as task/label, best first; Top is the surest of them, TopOf a task's prediction.
        Assert.Equal(r.Tasks.SelectMany(t => t.Value.Select(l => (Label: $"{t.Key}/{l.Label}", l.Score))).OrderByDescending(l => l.Score), r.Labels.Select(l => (l.Label, l.Score)));
        Assert.Equal(r.Labels[0], r.Top);
        Assert.Equal(r.Tasks["service"][0], r.TopOf("service"));
        Assert.Throws<ArgumentException>(() => r.TopOf("price"));
        for (var t = 0; t < 2; t++)
        {
            var (a, b) = (r.Logits[2 * t], r.Logits[2 * t + 1]);
            var positive = 1 / (1 + Math.Exp(a - b));
            var scores = r.Tasks[t == 0 ? "cleanliness" : "service"];
            Assert.Equal(1.0, scores.Sum(s => s.Score), 5);
            Assert.Equal(positive, scores.Single(s => s.Label == "positive").Score, 5);
        }
        Assert.Throws<CheckpointFormatException>(() => TextClassifier.Load(SharedFiles.Model("bert-multilabel-4-bf16"),
            new TextClassifierOptions { Tasks = MultiTask.Uniform(["a", "b", "c"], ["x", "y"]) }));
    }

    [Fact]
    public void MultiTaskCanBeDeclaredInTheConfig()
    {
        using var dir = CopyOf("bert-multilabel-4-bf16");
        var config = JsonNode.Parse(File.ReadAllText(dir.File("config.json")))!.AsObject();
        config["nuansa_tasks"] = JsonNode.Parse("""[{"name": "ac", "labels": ["bad", "good", "n/a"]}, {"name": "wifi", "labels": ["present"]}]""");
        File.WriteAllText(dir.File("config.json"), config.ToJsonString());
        using var classifier = TextClassifier.Load(dir.Path);
        var r = classifier.Classify("wifi ok", new ClassifyOptions { TopK = 2 });
        Assert.Equal(2, r.Tasks!["ac"].Count);
        Assert.Equal(1f, r.Tasks["wifi"].Single().Score, 6);
    }

    [Fact]
    public void AMissingWeightIsNamed()
    {
        using var dir = CopyOf("bert-2label");
        using (var store = WeightStore.Open(SharedFiles.Model("bert-2label")))
        {
            SafeTensorsWriter.Write(dir.File("model.safetensors"), store.Tensors
                .Where(t => t.Name != "bert.encoder.layer.1.output.dense.weight")
                .Select(t => new TensorToWrite(t.Name, t.DType, t.Shape, store.GetBytes(t.Name).ToArray())));
        }
        var e = Assert.Throws<CheckpointFormatException>(() => TextClassifier.Load(dir.Path));
        Assert.Contains("bert.encoder.layer.1.output.dense.weight", e.Message);
    }

    [Fact]
    public void AShapeThatDisagreesWithTheConfigIsNamed()
    {
        using var dir = CopyOf("bert-2label");
        var config = JsonNode.Parse(File.ReadAllText(dir.File("config.json")))!.AsObject();
        config["intermediate_size"] = 64;
        File.WriteAllText(dir.File("config.json"), config.ToJsonString());
        var e = Assert.Throws<CheckpointFormatException>(() => TextClassifier.Load(dir.Path));
        Assert.Contains("bert.encoder.layer.0.intermediate.dense.weight", e.Message);
        Assert.Contains("[128, 32]", e.Message);
        Assert.Contains("[64, 32]", e.Message);
    }

    [Fact]
    public void AnUnsupportedArchitectureOrActivationIsNamed()
    {
        using var dir = CopyOf("bert-2label");
        var config = JsonNode.Parse(File.ReadAllText(dir.File("config.json")))!.AsObject();
        config["hidden_act"] = "mish";
        File.WriteAllText(dir.File("config.json"), config.ToJsonString());
        Assert.Contains("mish", Assert.Throws<UnsupportedModelException>(() => TextClassifier.Load(dir.Path)).Message);
        config["hidden_act"] = "gelu";
        config["position_embedding_type"] = "relative_key";
        File.WriteAllText(dir.File("config.json"), config.ToJsonString());
        Assert.Contains("relative_key", Assert.Throws<UnsupportedModelException>(() => TextClassifier.Load(dir.Path)).Message);
    }

    private static TempDirectory CopyOf(string model)
    {
        var dir = new TempDirectory();
        foreach (var file in Directory.GetFiles(SharedFiles.Model(model)))
            File.Copy(file, dir.File(Path.GetFileName(file)));
        return dir;
    }
}
