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
    private readonly Dictionary<string, Dim[]> _shapes = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Dim[]> _dimValues = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long[]> _intValues = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _metadata = new(StringComparer.Ordinal);
    private int _counter;

    /// <summary>Facts recorded in the model file's metadata (see <see cref="Graph.Metadata"/>).</summary>
    public IDictionary<string, string> Metadata => _metadata;

    /// <summary>The nodes added so far, in order.</summary>
    public IReadOnlyList<Node> Nodes => _nodes;

    /// <summary>The rank of a value when the builder could infer it (inputs, constants and the ops it knows).</summary>
    public int? Rank(string value) => Shape(value)?.Length;

    /// <summary>
    /// The shape of a value as far as the builder could infer it: sizes, symbols carried from the inputs (<c>batch</c>,
    /// <c>sequence</c>), and unknown dimensions (neither); null when not even the rank is known.
    /// </summary>
    public Dim[]? Shape(string value) => _shapes.TryGetValue(value, out var s) ? s : null;

    /// <summary>
    /// Records what is known from elsewhere about a value's shape (a gradient has its variable's shape), keeping the
    /// dimensions already inferred.
    /// </summary>
    public void Refine(string value, Dim[] shape)
    {
        if (Shape(value) is not { } current)
            _shapes[value] = shape;
        else if (current.Length == shape.Length)
            _shapes[value] = [.. current.Zip(shape, (c, s) => c.IsKnown ? c : s)];
    }

    /// <summary>The values of a constant int64 tensor made by <see cref="Ints"/> or <see cref="Initializer"/>.</summary>
    public long[]? IntValues(string value) => _intValues.TryGetValue(value, out var v) ? v : null;

    public string Input(string name, ElementType type, params Dim[] shape)
    {
        Claim(name);
        _inputs.Add(new ValueInfo(name, type, shape));
        _shapes[name] = shape;
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
        Append(node);
        return output;
    }

    /// <summary>Adds a node with several outputs and returns their (new) names.</summary>
    public string[] OpOutputs(string opType, string[] inputs, int outputs, Dictionary<string, AttributeValue>? attributes = null, string domain = "")
    {
        var names = Enumerable.Range(0, outputs).Select(i => Fresh($"{opType.ToLowerInvariant()}_out{i}")).ToArray();
        var node = new Node(opType, inputs, names, attributes ?? [], domain);
        Append(node);
        return names;
    }

    /// <summary>Adds a node with explicitly named outputs.</summary>
    public void OpTo(string opType, string[] inputs, string[] outputs, Dictionary<string, AttributeValue>? attributes = null, string domain = "")
    {
        foreach (var o in outputs)
            Claim(o);
        var node = new Node(opType, inputs, outputs, attributes ?? [], domain);
        Append(node);
    }

    private void Append(Node node)
    {
        _nodes.Add(node);
        // What a Shape node will read, for a Slice that cuts a table to it (and its own length).
        if (node.OpType == "Shape" && Shape(node.Inputs[0]) is { } shaped)
        {
            var (start, end) = ShapeRange(node, shaped.Length);
            _dimValues[node.Outputs[0]] = shaped[start..end];
        }
        if (InferShape(node) is { } shape)
            _shapes[node.Outputs[0]] = shape;
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
        _shapes[tensor.Name] = [.. tensor.Dims.Select(d => (Dim)d)];
        if (tensor.Longs != null)
            _intValues[tensor.Name] = tensor.Longs;
    }

    // Output shapes of the ops Nuansa's graphs use, as far as they follow from what is known: autodiff needs ranks to
    // transpose the right axes, and shapes to leave out run-time Shape nodes (which keep whole activations alive until
    // the backward pass reaches them).
    private Dim[]? InferShape(Node node)
    {
        Dim[]? In(int i) => i < node.Inputs.Count ? Shape(node.Inputs[i]) : null;
        long[]? Attr(string name) => node.Attributes.TryGetValue(name, out var a) ? a.Value as long[] : null;
        long AttrInt(string name, long fallback) => node.Attributes.TryGetValue(name, out var a) ? (long)a.Value : fallback;
        switch (node.OpType)
        {
            case "Add" or "Sub" or "Mul" or "Div" or "Equal" or "Greater" or "And" or "Pow" or "Where":
                return Broadcast([.. node.Inputs.Select(Shape)]);
            case "MatMul" or "MatMulInteger":
                return In(0) is { } a && In(1) is { } b ? MatMulShape(a, b) : null;
            case "Gemm":
                return In(0) is [var a0, var a1] && In(1) is [var b0, var b1]
                    ? [AttrInt("transA", 0) == 0 ? a0 : a1, AttrInt("transB", 0) == 0 ? b1 : b0]
                    : null;
            case "Gather":
            {
                if (In(0) is not { } data || In(1) is not { } indices)
                    return null;
                var axis = (int)Normalize(AttrInt("axis", 0), data.Length);
                return [.. data[..axis], .. indices, .. data[(axis + 1)..]];
            }
            case "Reshape":
                return IntValues(node.Inputs[1]) is { } target ? ReshapeShape(In(0), target) : null;
            case "Unsqueeze":
            {
                if (In(0) is not { } x || IntValues(node.Inputs[1]) is not { } axes)
                    return null;
                var rank = x.Length + axes.Length;
                var inserted = axes.Select(a => Normalize(a, rank)).ToHashSet();
                var result = new Dim[rank];
                for (int i = 0, j = 0; i < rank; i++)
                    result[i] = inserted.Contains(i) ? 1 : x[j++];
                return result;
            }
            case "Shape":
                return _dimValues.TryGetValue(node.Outputs[0], out var read) ? [(long)read.Length] : [Unknown];
            case "ReduceSum" or "ReduceMean":
            {
                if (In(0) is not { } x)
                    return null;
                var keep = AttrInt("keepdims", 1) != 0;
                var axes = node.Inputs.Count > 1 ? IntValues(node.Inputs[1]) : Attr("axes");
                if (axes == null && node.Inputs.Count > 1)
                    return keep ? [.. x.Select(_ => Unknown)] : null; // axes known only at run time
                if (axes == null)
                    return keep ? [.. x.Select(_ => (Dim)1)] : []; // every axis
                var reduced = axes.Select(a => Normalize(a, x.Length)).ToHashSet();
                return keep ? [.. x.Select((d, i) => reduced.Contains(i) ? 1 : d)] : [.. x.Where((_, i) => !reduced.Contains(i))];
            }
            case "Transpose":
                return In(0) is { } t && Attr("perm") is { } perm ? [.. perm.Select(p => t[p])] : null;
            case "Slice":
                return SliceShape(node, In(0));
            case "Identity" or "Cast" or "Not" or "Erf" or "Tanh" or "Relu" or "Sigmoid" or "Exp" or "Log" or "Neg" or "Sqrt" or "Softmax" or "Softplus"
                or "LogSoftmax" or "LayerNormalization" or "Dropout" or "Gelu" or "CumSum" or "ScatterND" or "ScatterElements" or "Pad"
                or "DynamicQuantizeLinear":
                // Pad keeps the rank only.
                return node.OpType == "Pad" ? In(0)?.Select(_ => Unknown).ToArray() : In(0);
            case "GatherElements":
                return In(1);
            case "Expand":
                // To a shape read off another value (a gradient spread back over what was reduced).
                return _dimValues.TryGetValue(node.Inputs[1], out var expandTo) ? Broadcast([In(0), expandTo]) : null;
            case "ConstantOfShape":
                return _dimValues.TryGetValue(node.Inputs[0], out var filled) ? filled : null;
            default:
                return null;
        }
    }

    private static readonly Dim Unknown = default;

    /// <summary>True when two dimensions are known to be equal (the same size, or the same symbol).</summary>
    public static bool Same(Dim a, Dim b) => a.IsKnown && a == b;

    private static long Normalize(long axis, int rank) => axis < 0 ? axis + rank : axis;

    // NumPy broadcasting: per axis (aligned from the right), the one size other than 1, unknown when it cannot be told.
    private static Dim[]? Broadcast(Dim[]?[] shapes)
    {
        if (shapes.Any(s => s == null))
            return null;
        var rank = shapes.Max(s => s!.Length);
        var result = new Dim[rank];
        for (var i = 0; i < rank; i++)
        {
            var dims = shapes.Where(s => i - (rank - s!.Length) >= 0).Select(s => s![i - (rank - s.Length)]).ToList();
            var notOne = dims.Where(d => d.Size != 1).Distinct().ToList();
            result[i] = notOne.Count == 0 ? 1 : notOne.Count == 1 ? notOne[0] : Unknown;
        }
        return result;
    }

    private static Dim[]? MatMulShape(Dim[] a, Dim[] b) => (a.Length, b.Length) switch
    {
        (0, _) or (_, 0) => null,
        (1, 1) => [],
        (1, _) => [.. b[..^2], b[^1]],
        (_, 1) => a[..^1],
        _ => Broadcast([a[..^2], b[..^2]]) is { } batch ? [.. batch, a[^2], b[^1]] : null,
    };

    // A constant target: 0 copies the input's dimension, -1 is what is left (known when every size is).
    private static Dim[] ReshapeShape(Dim[]? x, long[] target)
    {
        var result = target.Select((t, i) => t switch
        {
            > 0 => (Dim)t,
            0 => x != null && i < x.Length ? x[i] : Unknown,
            _ => Unknown,
        }).ToArray();
        var rest = Array.IndexOf(target, -1L);
        if (rest >= 0 && x != null && x.All(d => d.Size != null) && result.Where((_, i) => i != rest).All(d => d.Size != null))
            result[rest] = x.Aggregate(1L, (p, d) => p * d.Size!.Value) / Math.Max(1, result.Where((_, i) => i != rest).Aggregate(1L, (p, d) => p * d.Size!.Value));
        return result;
    }

    // The axes a Shape node reads (its start and end attributes, clamped as ONNX does).
    private static (int Start, int End) ShapeRange(Node node, int rank)
    {
        var start = node.Attributes.TryGetValue("start", out var s) ? Math.Clamp(Normalize((long)s.Value, rank), 0, rank) : 0;
        var end = node.Attributes.TryGetValue("end", out var e) ? Math.Clamp(Normalize((long)e.Value, rank), 0, rank) : rank;
        return ((int)start, (int)Math.Max(start, end));
    }

    // Sliced axes become unknown, except the first n rows where n is a dimension read by a Shape node (the position table
    // cut to the sequence length).
    private Dim[]? SliceShape(Node node, Dim[]? x)
    {
        if (x == null)
            return null;
        var axes = node.Inputs.Count > 3 ? IntValues(node.Inputs[3]) : [.. Enumerable.Range(0, x.Length).Select(i => (long)i)];
        if (axes == null)
            return [.. x.Select(_ => Unknown)];
        var result = x.ToArray();
        foreach (var a in axes)
            result[Normalize(a, x.Length)] = Unknown;
        if (axes.Length == 1 && IntValues(node.Inputs[1]) is [0] && _dimValues.TryGetValue(node.Inputs[2], out var ends) && ends.Length == 1)
            result[Normalize(axes[0], x.Length)] = ends[0];
        return result;
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
