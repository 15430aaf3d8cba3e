namespace Nuansa.Graphs;

/// <summary>
/// Builds a <see cref="Graph"/> one operation at a time. Each helper adds one ONNX node (opset 17) and
/// returns the name of its output, so model code reads like the forward pass it describes.
/// </summary>
internal sealed class GraphBuilder(string name)
{
    private readonly List<ValueInfo> _inputs = [];
    private readonly List<ValueInfo> _outputs = [];
    private readonly List<Node> _nodes = [];
    private readonly List<TensorData> _initializers = [];
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _constants = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _ranks = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long[]> _intValues = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _metadata = new(StringComparer.Ordinal);
    private int _counter;

    /// <summary>Facts recorded in the model file's metadata (see <see cref="Graph.Metadata"/>).</summary>
    public IDictionary<string, string> Metadata => _metadata;

    /// <summary>The nodes added so far, in order.</summary>
    public IReadOnlyList<Node> Nodes => _nodes;

    /// <summary>The rank of a value when the builder could infer it (inputs, constants and the ops it knows).</summary>
    public int? Rank(string value) => _ranks.TryGetValue(value, out var r) ? r : null;

    /// <summary>The values of a constant int64 tensor made by <see cref="Ints"/> or <see cref="Initializer"/>.</summary>
    public long[]? IntValues(string value) => _intValues.TryGetValue(value, out var v) ? v : null;

    public string Input(string name, ElementType type, params Dim[] shape)
    {
        Claim(name);
        _inputs.Add(new ValueInfo(name, type, shape));
        _ranks[name] = shape.Length;
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
        Record(tensor);
        return tensor.Name;
    }

    /// <summary>A small float constant (shared when the same value is asked for again).</summary>
    public string Scalar(float value) => Constant($"f:{value:R}", () => TensorData.Float(Fresh("const"), [], [value]));

    /// <summary>An int64 scalar constant (shared when the same value is asked for again).</summary>
    public string ScalarInt(long value) => Constant($"s:{value}", () => TensorData.Int64(Fresh("const"), [], [value]));

    /// <summary>A small int64 constant vector (shared when asked for again).</summary>
    public string Ints(params long[] values) =>
        Constant($"i:{string.Join(",", values)}", () => TensorData.Int64(Fresh("const"), [values.Length], values));

    /// <summary>Adds a node and returns its (first) output name.</summary>
    public string Op(string opType, string[] inputs, Dictionary<string, AttributeValue>? attributes = null, string domain = "")
    {
        var output = Fresh(opType.ToLowerInvariant());
        var node = new Node(opType, inputs, [output], attributes ?? [], domain);
        _nodes.Add(node);
        if (InferRank(node) is { } rank)
            _ranks[output] = rank;
        return output;
    }

    /// <summary>Adds a node with several outputs and returns their (new) names.</summary>
    public string[] OpOutputs(string opType, string[] inputs, int outputs, Dictionary<string, AttributeValue>? attributes = null, string domain = "")
    {
        var names = Enumerable.Range(0, outputs).Select(i => Fresh($"{opType.ToLowerInvariant()}_out{i}")).ToArray();
        var node = new Node(opType, inputs, names, attributes ?? [], domain);
        _nodes.Add(node);
        if (InferRank(node) is { } rank)
            _ranks[names[0]] = rank;
        return names;
    }

    /// <summary>Adds a node with explicitly named outputs.</summary>
    public void OpTo(string opType, string[] inputs, string[] outputs, Dictionary<string, AttributeValue>? attributes = null, string domain = "")
    {
        foreach (var o in outputs)
            Claim(o);
        var node = new Node(opType, inputs, outputs, attributes ?? [], domain);
        _nodes.Add(node);
        if (InferRank(node) is { } rank)
            _ranks[outputs[0]] = rank;
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

    /// <summary>ReduceMean over constant axes (an attribute in opset 17).</summary>
    public string ReduceMean(string x, long[] axes, bool keepDims) =>
        Op("ReduceMean", [x], new() { ["axes"] = axes, ["keepdims"] = keepDims ? 1 : 0 });

    /// <summary>ReduceSum over constant axes (an input since opset 13).</summary>
    public string ReduceSum(string x, long[] axes, bool keepDims) =>
        Op("ReduceSum", [x, Ints(axes)], new() { ["keepdims"] = keepDims ? 1 : 0 });

    public string LayerNorm(string x, string gamma, string beta, double epsilon) =>
        Op("LayerNormalization", [x, gamma, beta], new() { ["axis"] = -1, ["epsilon"] = (float)epsilon });

    public Graph Build() => new(name, _inputs, _outputs, _nodes, _initializers, _metadata);

    // `create` names the tensor with Fresh(), which has already claimed the name.
    private string Constant(string key, Func<TensorData> create)
    {
        if (!_constants.TryGetValue(key, out var existing))
        {
            var tensor = create();
            _initializers.Add(tensor);
            Record(tensor);
            _constants[key] = existing = tensor.Name;
        }
        return existing;
    }

    private void Record(TensorData tensor)
    {
        _ranks[tensor.Name] = tensor.Dims.Count;
        if (tensor.Longs != null)
            _intValues[tensor.Name] = tensor.Longs;
    }

    // Output ranks of the ops Nuansa's graphs use (autodiff needs them to transpose the right axes).
    private int? InferRank(Node node)
    {
        int? In(int i) => i < node.Inputs.Count ? Rank(node.Inputs[i]) : null;
        long[]? Attr(string name) => node.Attributes.TryGetValue(name, out var a) ? a.Value as long[] : null;
        switch (node.OpType)
        {
            case "Add" or "Sub" or "Mul" or "Div" or "Equal" or "And" or "Pow" or "Where":
                return node.Inputs.Select(Rank).All(r => r != null) ? node.Inputs.Max(i => Rank(i)!.Value) : null;
            case "MatMul" or "MatMulInteger":
                return In(0) is { } a && In(1) is { } b ? Math.Max(a, b) : null;
            case "Gather":
                return In(0) is { } d && In(1) is { } ix ? d - 1 + ix : null;
            case "Reshape":
                return IntValues(node.Inputs[1])?.Length;
            case "Unsqueeze":
                return In(0) is { } u && IntValues(node.Inputs[1]) is { } axes ? u + axes.Length : null;
            case "Shape":
                return 1;
            case "ReduceSum" or "ReduceMean" when node.Attributes.TryGetValue("keepdims", out var k) && (long)k.Value == 0:
            {
                var reduced = node.Inputs.Count > 1 ? IntValues(node.Inputs[1]) : Attr("axes");
                return In(0) is { } r && reduced != null ? r - reduced.Length : null;
            }
            case "Identity" or "Cast" or "Not" or "Erf" or "Tanh" or "Relu" or "Sigmoid" or "Exp" or "Log" or "Neg" or "Sqrt" or "Softmax"
                or "LogSoftmax" or "LayerNormalization" or "Slice" or "Transpose" or "CumSum" or "Dropout" or "ReduceSum" or "ReduceMean"
                or "Expand" or "ScatterND" or "ScatterElements" or "GatherElements" or "Pad" or "DynamicQuantizeLinear":
                return node.OpType == "Expand" ? null : In(0);
            default:
                return Attr("perm")?.Length;
        }
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
