namespace Nuansa;

/// <summary>Base class of every error Nuansa raises for a problem the user can fix (bad file, bad option).</summary>
public class NuansaException : Exception
{
    /// <summary>An error with a message for the user.</summary>
    public NuansaException(string message) : base(message) { }

    /// <summary>An error with a message for the user and the exception behind it.</summary>
    public NuansaException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>A checkpoint file (config, weights, tokenizer) is missing, malformed or unsafe.</summary>
public class CheckpointFormatException : NuansaException
{
    /// <summary>An error naming the file and what is wrong with it.</summary>
    public CheckpointFormatException(string message) : base(message) { }

    /// <summary>An error naming the file and what is wrong with it, and the exception behind it.</summary>
    public CheckpointFormatException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>The checkpoint is well-formed but describes something Nuansa does not support.</summary>
public sealed class UnsupportedModelException : NuansaException
{
    /// <summary>An error naming what is not supported.</summary>
    public UnsupportedModelException(string message) : base(message) { }
}

/// <summary>A pickle inside a legacy <c>pytorch_model.bin</c> names a global outside the allow-list.</summary>
public sealed class UnsafePickleException : CheckpointFormatException
{
    /// <summary>The refused <paramref name="global"/> (<c>module.name</c>) in <paramref name="file"/>.</summary>
    public UnsafePickleException(string global, string file)
        : base($"{file}: the pickle refers to '{global}', which is not a tensor or a state-dict container. " +
               "Nuansa never executes pickled code; convert the checkpoint to safetensors with a tool you trust.")
    {
        Global = global;
    }

    /// <summary>The refused global, as <c>module.name</c>.</summary>
    public string Global { get; }
}

/// <summary>A tokenizer file (<c>tokenizer.json</c>, <c>vocab.txt</c>, <c>merges.txt</c>, SentencePiece model) is malformed or unsupported.</summary>
public sealed class TokenizerFormatException : NuansaException
{
    /// <summary>An error naming the tokenizer file and what is wrong with it.</summary>
    public TokenizerFormatException(string message) : base(message) { }
}

/// <summary>An input cannot be encoded as asked (e.g. truncation cannot reach the requested length).</summary>
public sealed class TokenizationException : NuansaException
{
    /// <summary>An error about the input at <paramref name="index"/> of a batch (null for a single input).</summary>
    public TokenizationException(string message, int? index = null) : base(message)
    {
        Index = index;
    }

    /// <summary>For a batch: the position of the input that failed.</summary>
    public int? Index { get; }
}

/// <summary>
/// The model computed NaN or infinite logits (broken weights, an overflow in float16-trained weights): nothing is
/// scored, since a probability made from them would be a silent wrong answer.
/// </summary>
public sealed class NonFiniteOutputException : NuansaException
{
    /// <summary>An error about the input at <paramref name="index"/> of the caller's batch.</summary>
    public NonFiniteOutputException(string message, int index) : base(message)
    {
        Index = index;
    }

    /// <summary>The position of the first input whose logits are not finite.</summary>
    public int Index { get; }
}

/// <summary>An input would exceed a limit set to bound the work one caller can ask for (the windows of a long text).</summary>
public sealed class InputTooLargeException : NuansaException
{
    /// <summary>An error saying what the input would need and the limit.</summary>
    public InputTooLargeException(string message) : base(message) { }
}
