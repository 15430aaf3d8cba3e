namespace Nuansa.Graphs;

/// <summary>
/// Builds a <see cref="Graph"/> one operation at a time. Each helper adds one ONNX node (opset 17) and
/// returns the name of its output, so model code reads like the forward pass it describes.
/// </summary>
public sealed class GraphBuilder(string name)
{
    private readonly List<ValueInfo> _inputs = [];
    private readonly List<ValueInfo> _outputs = [];
    private readonly List<Node> _nodes = [];
    private readonly List<TensorData> _initializers = [];
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _constants = new(StringComparer.Ordinal);
    private int _counter;

    public string Input(string name, ElementType type, params Dim[] shape)
    {
        Claim(name);
        _inputs.Add(new ValueInfo(name, type, shape));
        return name;
    }

    /// <summary>Marks <paramref name="value"/> as a graph output called <paramref name="name"/>.</summary>
    public void Output(string value, string name, ElementType type, params Dim[] shape)
    {
        if (value != name)
            OpTo("Identity", [value], [name]);
        _outputs.Add(new ValueInfo(name, type, shape));
    }

    /// <summary>A weight or other constant tensor, stored in the graph under its own name.</summary>
    public string Initializer(TensorData tensor)
    {
        Claim(tensor.Name);
        _initializers.Add(tensor);
        return tensor.Name;
    }

    /// <summary>A small float constant (shared when the same value is asked for again).</summary>
    public string Scalar(float value) => Constant($"f:{value:R}", () => TensorData.Float(Fresh("const"), [], [value]));

    /// <summary>A small int64 constant vector (shared when asked for again).</summary>
    public string Ints(params long[] values) =>
        Constant($"i:{string.Join(",", values)}", () => TensorData.Int64(Fresh("const"), [values.Length], values));

    /// <summary>Adds a node and returns its (first) output name.</summary>
    public string Op(string opType, string[] inputs, Dictionary<string, AttributeValue>? attributes = null, string domain = "")
    {
        var output = Fresh(opType.ToLowerInvariant());
        _nodes.Add(new Node(opType, inputs, [output], attributes ?? [], domain));
        return output;
    }

    /// <summary>Adds a node with explicitly named outputs.</summary>
    public void OpTo(string opType, string[] inputs, string[] outputs, Dictionary<string, AttributeValue>? attributes = null, string domain = "")
    {
        foreach (var o in outputs)
            Claim(o);
        _nodes.Add(new Node(opType, inputs, outputs, attributes ?? [], domain));
    }

    public string Add(string a, string b) => Op("Add", [a, b]);
    public string Sub(string a, string b) => Op("Sub", [a, b]);
    public string Mul(string a, string b) => Op("Mul", [a, b]);
    public string Div(string a, string b) => Op("Div", [a, b]);
    public string MatMul(string a, string b) => Op("MatMul", [a, b]);
    public string Tanh(string x) => Op("Tanh", [x]);
    public string Relu(string x) => Op("Relu", [x]);
    public string Sigmoid(string x) => Op("Sigmoid", [x]);
    public string Erf(string x) => Op("Erf", [x]);
    public string Cast(string x, ElementType to) => Op("Cast", [x], new() { ["to"] = (long)to });
    public string Softmax(string x, int axis = -1) => Op("Softmax", [x], new() { ["axis"] = axis });
    public string Gather(string data, string indices, int axis = 0) => Op("Gather", [data, indices], new() { ["axis"] = axis });
    public string Reshape(string x, params long[] shape) => Op("Reshape", [x, Ints(shape)]);
    public string Transpose(string x, params long[] perm) => Op("Transpose", [x], new() { ["perm"] = perm });
    public string Unsqueeze(string x, params long[] axes) => Op("Unsqueeze", [x, Ints(axes)]);

    public string LayerNorm(string x, string gamma, string beta, double epsilon) =>
        Op("LayerNormalization", [x, gamma, beta], new() { ["axis"] = -1, ["epsilon"] = (float)epsilon });

    public Graph Build() => new(name, _inputs, _outputs, _nodes, _initializers);

    // `create` names the tensor with Fresh(), which has already claimed the name.
    private string Constant(string key, Func<TensorData> create)
    {
        if (!_constants.TryGetValue(key, out var existing))
        {
            var tensor = create();
            _initializers.Add(tensor);
            _constants[key] = existing = tensor.Name;
        }
        return existing;
    }

    private string Fresh(string prefix)
    {
        string candidate;
        do
            candidate = $"{prefix}_{_counter++}";
        while (_names.Contains(candidate));
        _names.Add(candidate);
        return candidate;
    }

    private void Claim(string name)
    {
        if (!_names.Add(name))
            throw new InvalidOperationException($"The graph already has a value named '{name}'.");
    }
}
