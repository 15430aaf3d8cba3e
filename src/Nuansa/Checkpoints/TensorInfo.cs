namespace Nuansa.Checkpoints;

/// <summary>Name, element type and shape of one stored tensor.</summary>
public sealed class TensorInfo
{
    private readonly long[] _shape;

    /// <summary>A tensor's description; throws on a negative dimension or a size past 64 bits.</summary>
    public TensorInfo(string name, DType dtype, IEnumerable<long> shape)
    {
        Name = name;
        DType = dtype;
        _shape = shape.ToArray();
        long count = 1;
        foreach (var d in _shape)
        {
            if (d < 0)
                throw new ArgumentException($"Tensor '{name}' has a negative dimension {d}.");
            count = checked(count * d);
        }
        ElementCount = count;
        ByteLength = checked(count * dtype.Size());
    }

    /// <summary>The tensor's name in its file (HF's parameter name).</summary>
    public string Name { get; }

    /// <summary>The stored element type.</summary>
    public DType DType { get; }

    /// <summary>Dimensions, outermost first.</summary>
    public IReadOnlyList<long> Shape => _shape;

    /// <summary>Number of elements (the product of <see cref="Shape"/>).</summary>
    public long ElementCount { get; }

    /// <summary>Stored size in bytes.</summary>
    public long ByteLength { get; }

    /// <summary>Name, type and shape, e.g. <c>classifier.weight F32 [2, 768]</c>.</summary>
    public override string ToString() => $"{Name} {DType.Name()} [{string.Join(", ", _shape)}]";
}
