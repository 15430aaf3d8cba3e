namespace Nuansa.Checkpoints;

/// <summary>Name, element type and shape of one stored tensor.</summary>
public sealed class TensorInfo
{
    private readonly long[] _shape;

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

    public string Name { get; }
    public DType DType { get; }
    public IReadOnlyList<long> Shape => _shape;
    public long ElementCount { get; }
    public long ByteLength { get; }

    public override string ToString() => $"{Name} {DType.Name()} [{string.Join(", ", _shape)}]";
}
