using Nuansa.Graphs;

namespace Nuansa.Models;

/// <summary>What a model graph exposes besides its logits, and how it computes (immutable: what a build collects goes to <see cref="ModelWeights"/>).</summary>
internal sealed record GraphOptions
{
    /// <summary>
    /// Also output <c>hidden_states.0</c> (embeddings) … <c>hidden_states.N</c> (each layer), as HF's
    /// <c>output_hidden_states</c>. Without them the last layer computes the first token's row only (its keys and values
    /// still from every token), the one row the classification heads read: the same logits for about 7% less work.
    /// </summary>
    public bool HiddenStates { get; init; }

    /// <summary>Inference graphs: how the encoder's linear layers compute (see <see cref="Models.Quantization"/>).</summary>
    public Quantization Quantization { get; init; }

    /// <summary>Int8 graphs: how the weights use their 8 bits; Auto picks the most precise form that is exact on this machine.</summary>
    public Int8Weights Int8Weights { get; init; }

    /// <summary>
    /// Inference graphs: self-attention as ONNX Runtime's fused contrib operators (com.microsoft Attention, QAttention in
    /// int8) instead of their standard-ONNX decomposition. Only ONNX Runtime runs them, so exported files keep the portable form.
    /// </summary>
    public bool Fused { get; init; }

    /// <summary>Training graph: dropout layers are active (with the config's probabilities).</summary>
    public bool Training { get; init; }
}

/// <summary>
/// A dropout layer of a training graph: its mask input, the mask's shape (sizes, and the symbols <c>batch</c> and
/// <c>sequence</c>), and the drop probability.
/// </summary>
internal sealed record DropoutMask(string Name, IReadOnlyList<Dim> Shape, double Probability);
