namespace Nuansa.Graphs;

/// <summary>Element types, numbered as ONNX's <c>TensorProto.DataType</c>.</summary>
internal enum ElementType
{
    Float = 1,
    UInt8 = 2,
    Int8 = 3,
    Int32 = 6,
    Int64 = 7,
    Bool = 9,
}

/// <summary>One dimension of a tensor shape: a fixed size, or a symbol such as <c>batch</c>.</summary>
internal readonly record struct Dim(long? Size, string? Symbol)
{
    public static implicit operator Dim(long size) => new(size, null);

    public static implicit operator Dim(string symbol) => new(null, symbol);

    /// <summary>A size or a symbol; neither for a dimension the graph builder could not tell.</summary>
    public bool IsKnown => Size != null || Symbol != null;

    public override string ToString() => Symbol ?? Size?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "?";
}

/// <summary>A named graph input or output with its type and shape.</summary>
internal sealed record ValueInfo(string Name, ElementType Type, IReadOnlyList<Dim> Shape);

/// <summary>An attribute value of a node: int, float, string, int list, float list or tensor.</summary>
internal sealed record AttributeValue(object Value)
{
    public static implicit operator AttributeValue(long value) => new((object)value);

    public static implicit operator AttributeValue(int value) => new((object)(long)value);

    public static implicit operator AttributeValue(float value) => new((object)value);

    public static implicit operator AttributeValue(string value) => new((object)value);

    public static implicit operator AttributeValue(long[] value) => new((object)value);

    public static implicit operator AttributeValue(float[] value) => new((object)value);

    public static implicit operator AttributeValue(TensorData value) => new((object)value);
}

/// <summary>One operation: ONNX op type (and domain), input and output value names, attributes.</summary>
internal sealed record Node(string OpType, IReadOnlyList<string> Inputs, IReadOnlyList<string> Outputs,
    IReadOnlyDictionary<string, AttributeValue> Attributes, string Domain = "");

/// <summary>A constant tensor (weights, shapes, quantized weights): name, type, dimensions and values.</summary>
internal sealed class TensorData
{
    private TensorData(string name, ElementType type, long[] dims, float[]? floats, long[]? longs, sbyte[]? bytes)
    {
        Name = name;
        Type = type;
        Dims = dims;
        Floats = floats;
        Longs = longs;
        SBytes = bytes;
        var count = dims.Aggregate(1L, (a, b) => a * b);
        var length = floats?.Length ?? longs?.Length ?? bytes!.Length;
        if (length != count)
            throw new ArgumentException($"Tensor '{name}': {length} values do not fill shape [{string.Join(", ", dims)}].");
    }

    public string Name { get; }
    public ElementType Type { get; }
    public IReadOnlyList<long> Dims { get; }
    public float[]? Floats { get; }
    public long[]? Longs { get; }
    public sbyte[]? SBytes { get; }

    public static TensorData Float(string name, long[] dims, float[] values) => new(name, ElementType.Float, dims, values, null, null);

    public static TensorData Int64(string name, long[] dims, long[] values) => new(name, ElementType.Int64, dims, null, values, null);

    public static TensorData Int8(string name, long[] dims, sbyte[] values) => new(name, ElementType.Int8, dims, null, null, values);
}

/// <summary>A computation graph: inputs, outputs, nodes in topological order, and constant tensors.</summary>
internal sealed class Graph
{
    public Graph(string name, IReadOnlyList<ValueInfo> inputs, IReadOnlyList<ValueInfo> outputs, IReadOnlyList<Node> nodes, IReadOnlyList<TensorData> initializers,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        Name = name;
        Metadata = metadata ?? new Dictionary<string, string>();
        Inputs = inputs;
        Outputs = outputs;
        Nodes = nodes;
        Initializers = initializers;
    }

    public string Name { get; }
    public IReadOnlyList<ValueInfo> Inputs { get; }
    public IReadOnlyList<ValueInfo> Outputs { get; }
    public IReadOnlyList<Node> Nodes { get; }
    public IReadOnlyList<TensorData> Initializers { get; }

    /// <summary>Key–value facts about the model, written as the ONNX file's <c>metadata_props</c>.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }
}
