using Nuansa.Checkpoints;

namespace Nuansa.Tests.Checkpoints;

public class ModelConfigTests
{
    [Fact]
    public void ReadsBertFixture()
    {
        var c = ModelConfig.Load(SharedFiles.Model("bert-2label"));
        Assert.Equal("bert", c.ModelType);
        Assert.Equal(["BertForSequenceClassification"], c.Architectures);
        Assert.Equal(30522, c.VocabSize);
        Assert.Equal(32, c.HiddenSize);
        Assert.Equal(2, c.NumHiddenLayers);
        Assert.Equal(2, c.NumAttentionHeads);
        Assert.Equal(128, c.IntermediateSize);
        Assert.Equal(512, c.MaxPositionEmbeddings);
        Assert.Equal(2, c.TypeVocabSize);
        Assert.Equal("gelu", c.HiddenAct);
        Assert.Equal(0.0, c.HiddenDropoutProb);
        Assert.Equal(1e-12, c.LayerNormEps);
        Assert.Equal(0.2, c.InitializerRange);
        Assert.Null(c.ClassifierDropout);
        Assert.Null(c.ProblemType);
        Assert.Equal(["negative", "positive"], c.Id2Label);
        Assert.Equal(1, c.Label2Id["positive"]);
        Assert.Equal(2, c.NumLabels);
    }

    [Fact]
    public void ReadsProblemTypesAndLabelOrderFromFixtures()
    {
        var multi = ModelConfig.Load(SharedFiles.Model("bert-multilabel-4-bf16"));
        Assert.Equal("multi_label_classification", multi.ProblemType);
        Assert.Equal(["ac", "kebersihan", "service", "wifi"], multi.Id2Label);

        var emotion = ModelConfig.Load(SharedFiles.Model("bert-5label-emotion-f16"));
        Assert.Equal("single_label_classification", emotion.ProblemType);
        Assert.Equal(["Senang", "Netral", "Bingung", "Frustrasi", "Marah"], emotion.Id2Label);
        Assert.Equal(29999, emotion.VocabSize);
    }

    [Fact]
    public void MapsDistilBertFieldNames()
    {
        var c = ModelConfig.Load(SharedFiles.Model("distilbert-3label"));
        Assert.Equal("distilbert", c.ModelType);
        Assert.Equal(32, c.HiddenSize);          // "dim"
        Assert.Equal(2, c.NumHiddenLayers);      // "n_layers"
        Assert.Equal(2, c.NumAttentionHeads);    // "n_heads"
        Assert.Equal(128, c.IntermediateSize);   // "hidden_dim"
        Assert.Equal(0.1, c.HiddenDropoutProb);  // "dropout"
        Assert.Equal(0.2, c.SeqClassifDropout);
        Assert.Equal(1e-12, c.LayerNormEps);
        Assert.Equal(0, c.TypeVocabSize);
        Assert.Equal(["positive", "neutral", "negative"], c.Id2Label);
    }

    [Fact]
    public void ReadsRobertaFamilyFixtures()
    {
        var r = ModelConfig.Load(SharedFiles.Model("roberta-2label"));
        Assert.Equal("roberta", r.ModelType);
        Assert.Equal(1, r.PadTokenId);
        Assert.Equal(1e-5, r.LayerNormEps);
        Assert.Equal(1, r.TypeVocabSize);
        var x = ModelConfig.Load(SharedFiles.Model("xlmr-3label"));
        Assert.Equal("xlm-roberta", x.ModelType);
        Assert.Equal(1002, x.VocabSize);
        Assert.Equal(514, x.MaxPositionEmbeddings);
    }

    [Fact]
    public void AbsentFieldsTakeHuggingFaceDefaults()
    {
        var bert = ModelConfig.Parse("""{"model_type": "bert"}""");
        Assert.Equal(30522, bert.VocabSize);
        Assert.Equal(768, bert.HiddenSize);
        Assert.Equal(12, bert.NumHiddenLayers);
        Assert.Equal(12, bert.NumAttentionHeads);
        Assert.Equal(3072, bert.IntermediateSize);
        Assert.Equal("gelu", bert.HiddenAct);
        Assert.Equal(0.1, bert.HiddenDropoutProb);
        Assert.Equal(0.1, bert.AttentionProbsDropoutProb);
        Assert.Equal(512, bert.MaxPositionEmbeddings);
        Assert.Equal(2, bert.TypeVocabSize);
        Assert.Equal(0.02, bert.InitializerRange);
        Assert.Equal(1e-12, bert.LayerNormEps);
        Assert.Equal(0, bert.PadTokenId);
        Assert.Equal("absolute", bert.PositionEmbeddingType);
        // No id2label and no num_labels: HF makes two labels LABEL_0, LABEL_1.
        Assert.Equal(["LABEL_0", "LABEL_1"], bert.Id2Label);
        Assert.Equal(0, bert.Label2Id["LABEL_0"]);

        var roberta = ModelConfig.Parse("""{"model_type": "roberta"}""");
        Assert.Equal(50265, roberta.VocabSize);
        Assert.Equal(1, roberta.PadTokenId);
        Assert.Equal(0, roberta.BosTokenId);
        Assert.Equal(2, roberta.EosTokenId);
        Assert.Equal(1e-12, roberta.LayerNormEps); // RobertaConfig's own default; real checkpoints write 1e-5

        var xlmr = ModelConfig.Parse("""{"model_type": "xlm-roberta"}""");
        Assert.Equal(30522, xlmr.VocabSize);
        Assert.Equal(1, xlmr.PadTokenId);

        var distil = ModelConfig.Parse("""{"model_type": "distilbert"}""");
        Assert.Equal(768, distil.HiddenSize);
        Assert.Equal(6, distil.NumHiddenLayers);
        Assert.Equal(12, distil.NumAttentionHeads);
        Assert.Equal(3072, distil.IntermediateSize);
        Assert.Equal(0.2, distil.SeqClassifDropout);
        Assert.False(distil.SinusoidalPositionEmbeddings);
    }

    [Fact]
    public void NumLabelsWithoutId2LabelMakesGenericLabels()
    {
        var c = ModelConfig.Parse("""{"model_type": "bert", "num_labels": 4}""");
        Assert.Equal(["LABEL_0", "LABEL_1", "LABEL_2", "LABEL_3"], c.Id2Label);
    }

    [Fact]
    public void Id2LabelWinsOverNumLabels()
    {
        // HF ignores num_labels when id2label is present.
        var c = ModelConfig.Parse("""{"model_type": "bert", "num_labels": 5, "id2label": {"1": "pos", "0": "neg"}}""");
        Assert.Equal(["neg", "pos"], c.Id2Label);
        Assert.Equal(0, c.Label2Id["neg"]);
    }

    [Fact]
    public void UnsupportedModelTypeNamesTheSupportedOnes()
    {
        var e = Assert.Throws<UnsupportedModelException>(() => ModelConfig.Parse("""{"model_type": "gpt2"}"""));
        Assert.Contains("gpt2", e.Message);
        foreach (var supported in new[] { "bert", "distilbert", "roberta", "xlm-roberta" })
            Assert.Contains(supported, e.Message);
        Assert.Throws<UnsupportedModelException>(() => ModelConfig.Parse("{}"));
    }

    [Theory]
    [InlineData("""{"model_type": "bert", "hidden_size": "768"}""", "hidden_size")]
    [InlineData("""{"model_type": "bert", "hidden_size": 0}""", "hidden_size")]
    [InlineData("""{"model_type": "bert", "hidden_size": 100, "num_attention_heads": 12}""", "multiple")]
    [InlineData("""{"model_type": "bert", "problem_type": "ranking"}""", "ranking")]
    [InlineData("""{"model_type": "bert", "id2label": {"0": "a", "2": "b"}}""", "id2label")]
    [InlineData("""{"model_type": "bert", "id2label": {"x": "a"}}""", "id2label")]
    [InlineData("""{"model_type": "bert", "id2label": {"0": 5}}""", "id2label")]
    [InlineData("""{"model_type": "bert", "hidden_dropout_prob": 1.5}""", "hidden_dropout_prob")]
    [InlineData("""{"model_type": "bert", "label2id": {"a": "zero"}}""", "label2id")]
    [InlineData("""[1, 2]""", "object")]
    [InlineData("""{"model_type": "bert",""", "JSON")]
    public void MalformedFieldsAreNamed(string json, string expectedInMessage)
    {
        var e = Assert.ThrowsAny<NuansaException>(() => ModelConfig.Parse(json));
        Assert.Contains(expectedInMessage, e.Message);
    }

    [Fact]
    public void ToJsonKeepsEveryFieldOfTheFile()
    {
        var text = File.ReadAllText(Path.Combine(SharedFiles.Model("bert-pair-3label"), "config.json"));
        var c = ModelConfig.Parse(text);
        var again = ModelConfig.Parse(c.ToJson());
        Assert.Equal(c.Id2Label, again.Id2Label);
        using var original = System.Text.Json.JsonDocument.Parse(text);
        foreach (var property in original.RootElement.EnumerateObject())
            Assert.Equal(property.Value.GetRawText().Replace(" ", "").Replace("\n", ""),
                         again[property.Name]?.ToJsonString().Replace(" ", "") ?? "null");
    }

    [Fact]
    public void MissingFolderOrConfigSaysWhat()
    {
        using var dir = new TempDirectory();
        var e = Assert.Throws<CheckpointFormatException>(() => ModelConfig.Load(dir.Path));
        Assert.Contains("config.json", e.Message);
        Assert.Throws<CheckpointFormatException>(() => ModelConfig.Load(dir.File("nope")));
    }

    [Theory]
    [InlineData("bert", ModelFamily.Bert)]
    [InlineData("distilbert", ModelFamily.DistilBert)]
    [InlineData("roberta", ModelFamily.Roberta)]
    [InlineData("xlm-roberta", ModelFamily.XlmRoberta)]
    public void TheModelTypeIsAlsoAnEnum(string modelType, ModelFamily family) =>
        Assert.Equal(family, ModelConfig.Parse($$"""{"model_type": "{{modelType}}"}""").Family);

    [Theory]
    [InlineData(null, 2, Problem.SingleLabelClassification)]
    [InlineData(null, 1, Problem.Regression)]
    [InlineData("multi_label_classification", 3, Problem.MultiLabelClassification)]
    [InlineData("regression", 1, Problem.Regression)]
    [InlineData("single_label_classification", 2, Problem.SingleLabelClassification)]
    public void TheProblemIsResolvedAsHuggingFaceResolvesIt(string? problemType, int labels, Problem expected)
    {
        var id2label = string.Join(", ", Enumerable.Range(0, labels).Select(i => $"\"{i}\": \"l{i}\""));
        var problem = problemType == null ? "" : $", \"problem_type\": \"{problemType}\"";
        Assert.Equal(expected, ModelConfig.Parse($$"""{"model_type": "bert", "id2label": {{{id2label}}}{{problem}}}""").Problem);
    }
}
