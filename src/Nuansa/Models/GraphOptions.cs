namespace Nuansa.Models;

/// <summary>What a model graph exposes besides its logits, and how it computes (immutable: what a build collects goes to <see cref="ModelWeights"/>).</summary>
internal sealed record GraphOptions
{
    /// <summary>Also output <c>hidden_states.0</c> (embeddings) … <c>hidden_states.N</c> (each layer), as HF's <c>output_hidden_states</c>.</summary>
    public bool HiddenStates { get; init; }

    /// <summary>Inference graphs: how the encoder's linear layers compute (see <see cref="Models.Quantization"/>).</summary>
    public Quantization Quantization { get; init; }

    /// <summary>Int8 graphs: how the weights use their 8 bits; Auto picks the most precise form that is exact on this machine.</summary>
    public Int8Weights Int8Weights { get; init; }

    /// <summary>
    /// Float32 inference graphs: self-attention as ONNX Runtime's fused contrib operator (com.microsoft Attention)
    /// instead of its standard-ONNX decomposition. Only ONNX Runtime runs it, so exported files keep the portable form.
    /// </summary>
    public bool Fused { get; init; }

    /// <summary>Training graph: dropout layers are active (with the config's probabilities).</summary>
    public bool Training { get; init; }
}

/// <summary>A dropout layer of a training graph: its mask input, the rank of the masked value, and the drop probability.</summary>
/// <remarks>Rank 2 masks are [batch, hidden], rank 3 [batch, sequence, hidden], rank 4 [batch, heads, sequence, sequence].</remarks>
internal sealed record DropoutMask(string Name, int Rank, double Probability);
