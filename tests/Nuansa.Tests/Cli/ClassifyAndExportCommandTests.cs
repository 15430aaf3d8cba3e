using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Nuansa.Checkpoints;

namespace Nuansa.Tests.Cli;

public class ClassifyAndExportCommandTests
{
    [Fact]
    public void JsonLinesOutputHasLabelsAndLogitsInInputOrder()
    {
        var folder = SharedFiles.Model("bert-2label");
        using var inputs = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(folder, "inputs.json")));
        using var expected = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(folder, "expected.json")));
        var lines = string.Join("\n", inputs.RootElement.GetProperty("texts").EnumerateArray().Select(t => t.GetRawText()));
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("in.jsonl"), lines);
        var (code, _, error) = CliRunner.Run("classify", "--model", folder, "--input", dir.File("in.jsonl"), "--output", dir.File("out.jsonl"), "--top-k", "all", "--max-length", "32", "--batch-size", "4");
        Assert.True(code == 0, error);
        var rows = File.ReadAllLines(dir.File("out.jsonl"));
        var probs = expected.RootElement.GetProperty("probs_batch").EnumerateArray().ToArray();
        var logits = expected.RootElement.GetProperty("logits_single").EnumerateArray().ToArray();
        Assert.Equal(12, rows.Length);
        for (var i = 0; i < rows.Length; i++)
        {
            using var row = JsonDocument.Parse(rows[i]);
            var labels = row.RootElement.GetProperty("labels").EnumerateArray().ToArray();
            Assert.Equal(2, labels.Length);
            Assert.True(labels[0].GetProperty("score").GetSingle() >= labels[1].GetProperty("score").GetSingle());
            var positive = labels.Single(l => l.GetProperty("label").GetString() == "positive").GetProperty("score").GetSingle();
            Assert.Equal(probs[i][1].GetSingle(), positive, 5);
            Assert.Equal(logits[i][0].GetSingle(), row.RootElement.GetProperty("logits")[0].GetSingle(), 1e-4f);
        }
    }

    [Fact]
    public void ReadsCsvWithNamedColumnsAndWritesTasksForMultiTaskModels()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("in.csv"), "id,aspect,review\n1,ac,\"dingin, bersih\"\n2,wifi,\"lambat \"\"sekali\"\"\"\n");
        var (code, _, error) = CliRunner.Run("classify", "--model", SharedFiles.Model("bert-multilabel-4-bf16"), "--input", dir.File("in.csv"),
            "--text-column", "aspect", "--pair-column", "review", "--tasks", "room,network", "--task-labels", "bad,good", "--output", dir.File("out.jsonl"));
        Assert.True(code == 0, error);
        var rows = File.ReadAllLines(dir.File("out.jsonl")).Select(l => JsonDocument.Parse(l).RootElement).ToArray();
        Assert.Equal(2, rows.Length);
        Assert.Equal(["room", "network"], rows[0].GetProperty("tasks").EnumerateObject().Select(p => p.Name));
        Assert.Single(rows[0].GetProperty("tasks").GetProperty("room").EnumerateArray());
        Assert.Equal(4, rows[0].GetProperty("logits").GetArrayLength());
    }

    [Theory]
    [InlineData("id,text\n1,fine\n2\n", "line 3")]
    [InlineData("id,review\n1,fine\n", "no column \"text\"")]
    public void BadDataNamesTheLineOrColumn(string csv, string expected)
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("in.csv"), csv);
        var (code, _, error) = CliRunner.Run("classify", "--model", SharedFiles.Model("bert-2label"), "--input", dir.File("in.csv"), "--output", dir.File("out.jsonl"));
        Assert.Equal(1, code);
        Assert.Contains(expected, error);
        Assert.False(File.Exists(dir.File("out.jsonl")));
    }

    [Fact]
    public void PositionalTextsPrintATable()
    {
        var (code, output, error) = CliRunner.Run("classify", "--model", SharedFiles.Model("bert-pair-3label"), "--context", "battery", "lasts all day", "--top-k", "all");
        Assert.True(code == 0, error);
        Assert.StartsWith("[battery] lasts all day", output);
        Assert.Contains("negative", output);
        Assert.Contains("neutral", output);
        Assert.Contains("positive", output);
    }

    [Theory]
    [InlineData("optimum", "model.onnx", "none", 1e-4, null)]
    [InlineData("transformers.js", "onnx/model.onnx", "none", 1e-4, null)]
    [InlineData("optimum", "model_quantized.onnx", "int8", 0.08, null)]
    [InlineData("transformers.js", "onnx/model_quantized.onnx", "int8", 0.08, null)]
    [InlineData("optimum", "model_quantized.onnx", "int8", 0.08, "reduced")]
    [InlineData("optimum", "model_quantized.onnx", "int8", 0.08, "full")]
    public void ExportedOnnxReproducesTheLogitsOnItsOwn(string layout, string onnxName, string quantize, double tolerance, string? int8Weights)
    {
        // A full-range file is only right where the CPU has int8 dot products; elsewhere it is checked for its label only.
        var exactHere = int8Weights != "full" || Nuansa.Models.Int8Kernels.FullRangeIsExact;
        using var dir = new TempDirectory();
        foreach (var model in new[] { "bert-2label", "roberta-2label" })
        {
            var folder = SharedFiles.Model(model);
            var target = Path.Combine(dir.Path, model);
            string[] args = ["export", "--model", folder, "--output", target, "--layout", layout, "--quantize", quantize];
            var (code, output, error) = CliRunner.Run(int8Weights == null ? args : [.. args, "--int8-weights", int8Weights]);
            Assert.True(code == 0, error);
            Assert.True(File.Exists(Path.Combine(target, "config.json")));
            Assert.True(File.Exists(Path.Combine(target, "tokenizer.json")));

            // Plain ONNX Runtime, no Nuansa code: the padded batch of the fixture.
            using var session = new InferenceSession(Path.Combine(target, onnxName));
            // Exported int8 files are the portable 7-bit form unless asked otherwise, and say which they are.
            var metadata = session.ModelMetadata.CustomMetadataMap;
            if (quantize == "int8")
            {
                var form = int8Weights == "full" ? "full_range" : "reduced_range";
                Assert.StartsWith(form, metadata["nuansa.int8_weights"], StringComparison.Ordinal);
                Assert.Contains(form, output, StringComparison.Ordinal);
            }
            else
            {
                Assert.False(metadata.ContainsKey("nuansa.int8_weights"));
            }
            if (!exactHere)
                continue;
            using var expected = SafeTensorsFile.Open(Path.Combine(folder, "expected.safetensors"));
            var shape = expected.GetInfo("input_ids").Shape.ToArray();
            var feeds = session.InputMetadata.Keys.ToDictionary(n => n, n => OrtValue.CreateTensorValueFromMemory(expected.ReadInt64(n), shape));
            using var results = session.Run(new RunOptions(), feeds.Keys.ToArray(), feeds.Values.ToArray(), ["logits"]);
            var logits = results[0].GetTensorDataAsSpan<float>().ToArray();
            var reference = expected.ReadSingle("logits_batch");
            // int8: within 8% of the logits' spread (the fixtures' weights are random, their logits close together).
            var scale = quantize == "int8" ? reference.Max() - reference.Min() : 1f;
            for (var i = 0; i < reference.Length; i++)
                Assert.True(Math.Abs(reference[i] - logits[i]) <= tolerance * scale, $"{model} [{i}]: {logits[i]} vs {reference[i]}");
            foreach (var v in feeds.Values)
                v.Dispose();
        }
    }

    [Fact]
    public void ExportRefusesToWriteIntoTheCheckpointFolder()
    {
        var folder = SharedFiles.Model("bert-2label");
        var (code, _, error) = CliRunner.Run("export", "--model", folder, "--output", folder);
        Assert.Equal(1, code);
        Assert.Contains("another folder", error);
    }
}

/// <summary>Every export carries a tokenizer.json, also for models whose tokenizer is a WordPiece vocab.txt (init, train).</summary>
public class ExportTokenizerJsonTests
{
    [Theory]
    [InlineData("optimum")]
    [InlineData("transformers.js")]
    public void AnExportOfAnInitModelCarriesATokenizerJsonThatTokenizesAsTheVocabulary(string layout)
    {
        using var dir = new TempDirectory();
        var vocab = Path.Combine(SharedFiles.Root, "data", "vocab", "bert-base-uncased.txt");
        var (code, _, error) = CliRunner.Run("init", "--model-type", "bert", "--vocab", vocab, "--labels", "negative,positive", "--output", dir.File("init"),
            "--hidden-size", "32", "--num-hidden-layers", "1", "--num-attention-heads", "2", "--intermediate-size", "64", "--max-position-embeddings", "64");
        Assert.True(code == 0, error);
        (code, _, error) = CliRunner.Run("export", "--model", dir.File("init"), "--output", dir.File("out"), "--layout", layout);
        Assert.True(code == 0, error);
        var json = Path.Combine(dir.File("out"), "tokenizer.json");
        Assert.True(File.Exists(json), "the export has no tokenizer.json");

        // tokenizer.json alone (as transformers.js reads it) encodes HF's parity cases as the vocab.txt does.
        Directory.CreateDirectory(dir.File("json-only"));
        File.Copy(json, Path.Combine(dir.File("json-only"), "tokenizer.json"));
        var fromJson = Nuansa.Tokenization.Tokenizer.Load(dir.File("json-only"));
        var fromVocab = Nuansa.Tokenization.Tokenizer.Load(dir.File("init"));
        using var cases = System.Text.Json.JsonDocument.Parse(File.ReadAllBytes(Path.Combine(SharedFiles.Fixtures, "tokenizer-parity", "bert-base-uncased", "cases.json")));
        var texts = cases.RootElement.GetProperty("texts").EnumerateArray().Select(t => t.GetString()!).ToArray();
        Assert.NotEmpty(texts);
        // Without truncation: the vocabulary's folder takes its length limit from config.json, the lone file has none.
        var whole = new Nuansa.Tokenization.EncodeOptions { Truncation = Nuansa.Tokenization.TruncationStrategy.DoNotTruncate };
        foreach (var text in texts)
            Assert.Equal(fromVocab.Encode(text, null, whole).Ids, fromJson.Encode(text, null, whole).Ids);
        Assert.Equal(fromVocab.Encode("the context", "the text").TypeIds, fromJson.Encode("the context", "the text").TypeIds);
    }
}
