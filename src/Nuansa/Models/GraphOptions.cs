namespace Nuansa.Models;

/// <summary>What a model graph exposes besides its logits.</summary>
public sealed record GraphOptions
{
    /// <summary>Also output <c>hidden_states.0</c> (embeddings) … <c>hidden_states.N</c> (each layer), as HF's <c>output_hidden_states</c>.</summary>
    public bool HiddenStates { get; init; }

    /// <summary>Training graph: dropout layers are active (with the config's probabilities).</summary>
    public bool Training { get; init; }

    /// <summary>Seed of the first dropout layer; each further layer takes the next number, so runs are reproducible.</summary>
    public int DropoutSeed { get; init; } = 42;
}
