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
