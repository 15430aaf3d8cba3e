using Nuansa.Checkpoints;

namespace Nuansa.Models;

/// <summary>What a parameter is, which decides its HF initialization and whether weight decay applies.</summary>
internal enum ParameterKind
{
    LinearWeight,
    Bias,
    Embedding,
    LayerNormWeight,
    LayerNormBias,
}

/// <summary>One parameter of a model: HF name, shape, kind, and for embeddings the row HF keeps at zero (padding_idx).</summary>
internal sealed record Parameter(string Name, long[] Shape, ParameterKind Kind, long? PaddingRow = null)
{
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);

    /// <summary>HF Trainer's parameter groups: biases and LayerNorm weights get no weight decay.</summary>
    public bool Decays => Kind is ParameterKind.LinearWeight or ParameterKind.Embedding;
}

/// <summary>
/// The parameters of HF's <c>*ForSequenceClassification</c> models (transformers 4.32 state dicts), in the order of
/// <c>named_parameters()</c>, derived from the config alone.
/// </summary>
internal static class ParameterLayout
{
    public static IReadOnlyList<Parameter> For(ModelConfig c)
    {
        long h = c.HiddenSize, ff = c.IntermediateSize, labels = c.NumLabels;
        var list = new List<Parameter>();
        void Linear(string name, long output, long input)
        {
            list.Add(new($"{name}.weight", [output, input], ParameterKind.LinearWeight));
            list.Add(new($"{name}.bias", [output], ParameterKind.Bias));
        }
        void Norm(string name)
        {
            list.Add(new($"{name}.weight", [h], ParameterKind.LayerNormWeight));
            list.Add(new($"{name}.bias", [h], ParameterKind.LayerNormBias));
        }
        if (c.ModelType == "distilbert")
        {
            list.Add(new("distilbert.embeddings.word_embeddings.weight", [c.VocabSize, h], ParameterKind.Embedding, c.PadTokenId));
            list.Add(new("distilbert.embeddings.position_embeddings.weight", [c.MaxPositionEmbeddings, h], ParameterKind.Embedding));
            Norm("distilbert.embeddings.LayerNorm");
            for (var i = 0; i < c.NumHiddenLayers; i++)
            {
                var l = $"distilbert.transformer.layer.{i}";
                foreach (var p in new[] { "q_lin", "k_lin", "v_lin", "out_lin" })
                    Linear($"{l}.attention.{p}", h, h);
                Norm($"{l}.sa_layer_norm");
                Linear($"{l}.ffn.lin1", ff, h);
                Linear($"{l}.ffn.lin2", h, ff);
                Norm($"{l}.output_layer_norm");
            }
            Linear("pre_classifier", h, h);
            Linear("classifier", labels, h);
            return list;
        }
        var roberta = c.ModelType is "roberta" or "xlm-roberta";
        var prefix = roberta ? "roberta" : "bert";
        list.Add(new($"{prefix}.embeddings.word_embeddings.weight", [c.VocabSize, h], ParameterKind.Embedding, c.PadTokenId));
        list.Add(new($"{prefix}.embeddings.position_embeddings.weight", [c.MaxPositionEmbeddings, h], ParameterKind.Embedding, roberta ? c.PadTokenId : null));
        list.Add(new($"{prefix}.embeddings.token_type_embeddings.weight", [c.TypeVocabSize, h], ParameterKind.Embedding));
        Norm($"{prefix}.embeddings.LayerNorm");
        for (var i = 0; i < c.NumHiddenLayers; i++)
        {
            var l = $"{prefix}.encoder.layer.{i}";
            foreach (var p in new[] { "query", "key", "value" })
                Linear($"{l}.attention.self.{p}", h, h);
            Linear($"{l}.attention.output.dense", h, h);
            Norm($"{l}.attention.output.LayerNorm");
            Linear($"{l}.intermediate.dense", ff, h);
            Linear($"{l}.output.dense", h, ff);
            Norm($"{l}.output.LayerNorm");
        }
        if (roberta)
        {
            Linear("classifier.dense", h, h);
            Linear("classifier.out_proj", labels, h);
        }
        else
        {
            Linear("bert.pooler.dense", h, h);
            Linear("classifier", labels, h);
        }
        return list;
    }
}
