namespace Nuansa.Models;

/// <summary>What a model graph exposes besides its logits.</summary>
public sealed record GraphOptions
{
    /// <summary>Also output <c>hidden_states.0</c> (embeddings) … <c>hidden_states.N</c> (each layer), as HF's <c>output_hidden_states</c>.</summary>
    public bool HiddenStates { get; init; }
}
