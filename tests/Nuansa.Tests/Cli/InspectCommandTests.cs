using System.Text.Json;

namespace Nuansa.Tests.Cli;

public class InspectCommandTests
{
    [Fact]
    public void JsonOutputFollowsTheDocumentedSchema()
    {
        var folder = SharedFiles.Model("bert-5label-emotion-f16");
        var (code, output, error) = CliRunner.Run("inspect", "--model", folder, "--json");
        Assert.Equal(0, code);
        Assert.Equal("", error);
        using var json = JsonDocument.Parse(output);
        var root = json.RootElement;
        Assert.Equal(1, root.GetProperty("schema_version").GetInt32());
        Assert.Equal(folder, root.GetProperty("path").GetString());
        Assert.Equal("bert", root.GetProperty("model_type").GetString());
        Assert.Equal("BertForSequenceClassification", root.GetProperty("architectures")[0].GetString());
        var config = root.GetProperty("config");
        Assert.Equal(29999, config.GetProperty("vocab_size").GetInt32());
        Assert.Equal(32, config.GetProperty("hidden_size").GetInt32());
        Assert.Equal(2, config.GetProperty("num_hidden_layers").GetInt32());
        Assert.Equal(4, config.GetProperty("num_attention_heads").GetInt32());
        Assert.Equal(128, config.GetProperty("intermediate_size").GetInt32());
        Assert.Equal(512, config.GetProperty("max_position_embeddings").GetInt32());
        Assert.Equal(2, config.GetProperty("type_vocab_size").GetInt32());
        Assert.Equal("gelu", config.GetProperty("hidden_act").GetString());
        Assert.Equal(1e-12, config.GetProperty("layer_norm_eps").GetDouble());
        Assert.Equal("single_label_classification", root.GetProperty("problem_type").GetString());
        Assert.Equal(5, root.GetProperty("num_labels").GetInt32());
        Assert.Equal(["Senang", "Netral", "Bingung", "Frustrasi", "Marah"], root.GetProperty("labels").EnumerateArray().Select(e => e.GetString()));
        var weights = root.GetProperty("weights");
        Assert.Equal("safetensors", weights.GetProperty("format").GetString());
        Assert.Equal("model.safetensors", weights.GetProperty("files")[0].GetString());

        // Parameters of a 2-layer BERT with hidden 32, intermediate 128, vocabulary 29,999 and 5 labels, counted by hand:
        // embeddings 29999*32 + 512*32 + 2*32 + 2*32; per layer 4*(32*32+32) + 2*32 + (32*128+128) + (128*32+32) + 2*32;
        // pooler 32*32+32; classifier 5*32+5.
        const long embeddings = 29999 * 32 + 512 * 32 + 2 * 32 + 2 * 32;
        const long layer = 4 * (32 * 32 + 32) + 2 * 32 + (32 * 128 + 128) + (128 * 32 + 32) + 2 * 32;
        Assert.Equal(embeddings + 2 * layer + (32 * 32 + 32) + (5 * 32 + 5), weights.GetProperty("parameter_count").GetInt64());

        var tensors = root.GetProperty("tensors").EnumerateArray().ToList();
        Assert.Equal(41, tensors.Count);
        var word = tensors.Single(t => t.GetProperty("name").GetString() == "bert.embeddings.word_embeddings.weight");
        Assert.Equal("F16", word.GetProperty("dtype").GetString());
        Assert.Equal([29999L, 32], word.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()));
    }

    [Fact]
    public void TextOutputNamesArchitectureLabelsAndTensors()
    {
        var (code, output, _) = CliRunner.Run("inspect", "--model", SharedFiles.Model("distilbert-3label"));
        Assert.Equal(0, code);
        Assert.Contains("distilbert (DistilBertForSequenceClassification)", output);
        Assert.Contains("0=positive, 1=neutral, 2=negative", output);
        Assert.Contains("distilbert.transformer.layer.1.ffn.lin1.weight", output);
        Assert.Contains("[128, 32]", output);
    }

    [Fact]
    public void ABadFolderIsOneClearErrorLine()
    {
        using var dir = new TempDirectory();
        var (code, output, error) = CliRunner.Run("inspect", "--model", dir.Path);
        Assert.Equal(1, code);
        Assert.Equal("", output);
        Assert.StartsWith("error: ", error);
        Assert.Contains("config.json", error);
    }

    [Fact]
    public void AnUnsupportedArchitectureIsNamed()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("config.json"), """{"model_type": "t5"}""");
        var (code, _, error) = CliRunner.Run("inspect", "--model", dir.Path);
        Assert.Equal(1, code);
        Assert.Contains("\"t5\" is not supported", error);
    }

    [Fact]
    public void MissingModelOptionIsAUsageError()
    {
        var (code, _, error) = CliRunner.Run("inspect");
        Assert.NotEqual(0, code);
        Assert.Contains("--model", error);
    }
}
