namespace Nuansa.Graphs.Autodiff;

/// <summary>
/// The gradient of each op Nuansa's models use, written as ONNX ops. Each rule receives the gradients of the
/// node's outputs (null where an output does not reach the loss) and returns one per input (null where not needed).
/// Every rule is checked against finite differences in the tests.
/// </summary>
internal static class GradientRules
{
    private static readonly HashSet<string> Differentiable =
    [
        "Add", "Sub", "Mul", "Div", "MatMul", "Gather", "GatherElements", "Reshape", "Transpose", "Unsqueeze", "Identity",
        "Softmax", "LogSoftmax", "LayerNormalization", "Erf", "Tanh", "Relu", "Sigmoid", "Exp", "Neg", "ReduceSum", "ReduceMean",
        "Slice", "Dropout", "Log", "Pow", "Softplus", "Gelu", "Where",
    ];

    public static bool IsDifferentiable(string opType) => Differentiable.Contains(opType);

    public static string?[] Backward(GraphBuilder g, Node node, string?[] dy, bool[] needed)
    {
        var x = node.Inputs;
        var y = node.Outputs;
        var d = dy[0];
        string? Need(int i, Func<string> grad) => needed[i] ? grad() : null;
        switch (node.OpType)
        {
            case "Identity":
                return [d];
            case "Add":
                return [Need(0, () => ReduceTo(g, d!, x[0])), Need(1, () => ReduceTo(g, d!, x[1]))];
            case "Sub":
                return [Need(0, () => ReduceTo(g, d!, x[0])), Need(1, () => ReduceTo(g, g.Op("Neg", [d!]), x[1]))];
            case "Mul":
                return [Need(0, () => ReduceTo(g, g.Mul(d!, x[1]), x[0])), Need(1, () => ReduceTo(g, g.Mul(d!, x[0]), x[1]))];
            case "Div":
                // d(a/b) = da / b − d·a / b²
                return [Need(0, () => ReduceTo(g, g.Div(d!, x[1]), x[0])),
                        Need(1, () => ReduceTo(g, g.Op("Neg", [g.Div(g.Mul(d!, y[0]), x[1])]), x[1]))];
            case "Neg":
                return [g.Op("Neg", [d!])];
            case "Where":
            {
                // The gradient goes to the branch each element came from.
                var zero = g.Scalar(0f);
                return [null, Need(1, () => ReduceTo(g, g.Op("Where", [x[0], d!, zero]), x[1])), Need(2, () => ReduceTo(g, g.Op("Where", [x[0], zero, d!]), x[2]))];
            }
            case "Exp":
                return [g.Mul(d!, y[0])];
            case "Log":
                return [g.Div(d!, x[0])];
            case "Softplus":
                return [g.Mul(d!, g.Sigmoid(x[0]))];
            case "Pow":
            {
                // Only constant exponents: d xᵖ = p · xᵖ⁻¹.
                if (needed.Length > 1 && needed[1])
                    throw new NotSupportedException("Pow gradients are implemented for constant exponents.");
                var p = x[1];
                return [ReduceTo(g, g.Mul(d!, g.Mul(p, g.Op("Pow", [x[0], g.Sub(p, g.Scalar(1f))]))), x[0]), null];
            }
            case "Erf":
                // d erf(x) = 2/√π · exp(−x²)
                return [g.Mul(d!, g.Mul(g.Scalar(2f / MathF.Sqrt(MathF.PI)), g.Op("Exp", [g.Op("Neg", [g.Mul(x[0], x[0])])])))];
            case "Gelu":
            {
                // ONNX Runtime's exact GELU, x·Φ(x): d/dx = Φ(x) + x·φ(x), recomputed from x alone.
                var cdf = g.Mul(g.Scalar(0.5f), g.Add(g.Scalar(1f), g.Erf(g.Mul(x[0], g.Scalar(1f / MathF.Sqrt(2f))))));
                var pdf = g.Mul(g.Scalar(1f / MathF.Sqrt(2f * MathF.PI)), g.Op("Exp", [g.Mul(g.Scalar(-0.5f), g.Mul(x[0], x[0]))]));
                return [g.Mul(d!, g.Add(cdf, g.Mul(x[0], pdf)))];
            }
            case "Tanh":
                return [g.Mul(d!, g.Sub(g.Scalar(1f), g.Mul(y[0], y[0])))];
            case "Sigmoid":
                return [g.Mul(d!, g.Mul(y[0], g.Sub(g.Scalar(1f), y[0])))];
            case "Relu":
                return [g.Mul(d!, g.Cast(g.Op("Greater", [x[0], g.Scalar(0f)]), ElementType.Float))];
            case "Softmax":
            {
                // dx = y · (dy − Σ dy·y) over the softmax axis
                var axis = Axis(node, -1);
                var dot = g.ReduceSum(g.Mul(d!, y[0]), [axis], keepDims: true);
                return [g.Mul(y[0], g.Sub(d!, dot))];
            }
            case "LogSoftmax":
            {
                // dx = dy − softmax(x) · Σ dy
                var axis = Axis(node, -1);
                var sum = g.ReduceSum(d!, [axis], keepDims: true);
                return [g.Sub(d!, g.Mul(g.Op("Exp", [y[0]]), sum))];
            }
            case "MatMul":
                return MatMul(g, x[0], x[1], d!, needed);
            case "Reshape":
            case "Unsqueeze":
                return [ReshapeTo(g, d!, x[0]), null];
            case "Transpose":
            {
                var perm = (long[])node.Attributes["perm"].Value;
                var inverse = new long[perm.Length];
                for (var i = 0; i < perm.Length; i++)
                    inverse[perm[i]] = i;
                return [g.Transpose(d!, inverse)];
            }
            case "ReduceSum":
            case "ReduceMean":
            {
                var keep = !node.Attributes.TryGetValue("keepdims", out var k) || (long)k.Value != 0;
                // Axes are an input of ReduceSum and an attribute of ReduceMean (opset 17); without axes every
                // element was reduced and the gradient is a scalar that Expand broadcasts.
                var axes = x.Count > 1 ? x[1] : node.Attributes.TryGetValue("axes", out var a) ? g.Ints((long[])a.Value) : null;
                var grad = keep || axes == null ? d! : g.Op("Unsqueeze", [d!, axes]);
                var expanded = g.Op("Expand", [grad, g.Op("Shape", [x[0]])]);
                if (node.OpType == "ReduceMean")
                    expanded = g.Div(expanded, g.Cast(g.Div(g.Op("Size", [x[0]]), g.Op("Size", [node.Outputs[0]])), ElementType.Float));
                return [expanded, .. Enumerable.Repeat<string?>(null, x.Count - 1)];
            }
            case "Gather":
                return [Need(0, () => GatherGrad(g, node, d!)), null];
            case "GatherElements":
            {
                var zeros = ZerosLike(g, x[0]);
                return [Need(0, () => g.Op("ScatterElements", [zeros, x[1], d!], new() { ["axis"] = Axis(node, 0), ["reduction"] = "add" })), null];
            }
            case "Slice":
                return [SliceGrad(g, node, d!), .. Enumerable.Repeat<string?>(null, x.Count - 1)];
            case "LayerNormalization":
                return LayerNormGrad(g, node, d!, needed);
            case "Dropout":
            {
                // y = x · mask / (1 − p); the mask is the node's second output.
                var ratio = x.Count > 1 ? x[1] : g.Scalar(0.5f);
                var scale = g.Div(g.Scalar(1f), g.Sub(g.Scalar(1f), ratio));
                return [g.Mul(g.Mul(d!, g.Cast(y[1], ElementType.Float)), scale), .. Enumerable.Repeat<string?>(null, x.Count - 1)];
            }
            default:
                throw new NotSupportedException($"No gradient rule for {node.OpType}.");
        }
    }

    private static long Axis(Node node, long fallback) =>
        node.Attributes.TryGetValue("axis", out var a) ? (long)a.Value : fallback;

    private static string ZerosLike(GraphBuilder g, string x) =>
        g.Op("ConstantOfShape", [g.Op("Shape", [x])], new() { ["value"] = TensorData.Float("zero", [1], [0f]) });

    /// <summary>
    /// Sums a broadcast gradient back to the shape of <paramref name="x"/>: over constant axes when the shapes the
    /// builder inferred tell which were broadcast (nothing to do when they match), otherwise over axes found at run time.
    /// </summary>
    /// <remarks>
    /// The static form matters for memory: a Shape node of a forward activation runs only when the backward pass needs
    /// it, so ONNX Runtime would keep the whole activation alive until then.
    /// </remarks>
    internal static string ReduceTo(GraphBuilder g, string grad, string x)
    {
        // Static when every dimension of x is a size, or the gradient's own symbol at that axis (so not broadcast).
        if (g.Shape(grad) is { } gs && g.Shape(x) is { } xs && gs.Length - xs.Length is var lead and >= 0
            && xs.Select((d, i) => d.Size != null || GraphBuilder.Same(d, gs[lead + i])).All(ok => ok))
        {
            // Sum the axes where x has 1 and the gradient may not (kept), then the leading axes x lacks (dropped).
            long[] inner = [.. Enumerable.Range(0, xs.Length).Where(i => xs[i].Size == 1 && gs[lead + i].Size != 1).Select(i => (long)(lead + i))];
            var kept = inner.Length == 0 ? grad : g.ReduceSum(grad, inner, keepDims: true);
            return lead == 0 ? kept : g.ReduceSum(kept, [.. Enumerable.Range(0, lead).Select(i => (long)i)], keepDims: false);
        }
        var gradShape = g.Op("Shape", [grad]);
        var xShape = g.Op("Shape", [x]);
        // Left-pad x's shape with ones to the gradient's rank, then sum over axes where x has 1 and the gradient does not.
        var missing = g.Sub(g.Op("Shape", [gradShape]), g.Op("Shape", [xShape]));
        var ones = g.Op("ConstantOfShape", [missing], new() { ["value"] = TensorData.Int64("one", [1], [1]) });
        var padded = g.Op("Concat", [ones, xShape], new() { ["axis"] = 0 });
        var one = g.Ints(1);
        var broadcast = g.Op("And", [g.Op("Equal", [padded, one]), g.Op("Not", [g.Op("Equal", [gradShape, one])])]);
        var axes = g.Reshape(g.Op("NonZero", [broadcast]), -1);
        var summed = g.Op("ReduceSum", [grad, axes], new() { ["keepdims"] = 1, ["noop_with_empty_axes"] = 1 });
        return g.Op("Reshape", [summed, xShape]);
    }

    /// <summary>
    /// The gradient of a Reshape's output back in its input's shape: a constant target where every dimension of x is
    /// a size or the same symbol as the gradient's at that axis (copied with 0), all but one at most (-1); otherwise x's
    /// shape at run time (see <see cref="ReduceTo"/> on why that is avoided).
    /// </summary>
    private static string ReshapeTo(GraphBuilder g, string d, string x)
    {
        if (g.Shape(x) is { } xs && xs.All(dim => dim.Size != 0))
        {
            var ds = g.Shape(d);
            var target = xs.Select((dim, i) => dim.Size ?? (ds != null && i < ds.Length && GraphBuilder.Same(dim, ds[i]) ? 0 : -1)).ToArray();
            if (target.Count(t => t == -1) <= 1)
                return g.Reshape(d, target);
        }
        return g.Op("Reshape", [d, g.Op("Shape", [x])]);
    }

    private static string?[] MatMul(GraphBuilder g, string a, string b, string d, bool[] needed)
    {
        var ra = g.Rank(a) ?? throw new InvalidOperationException($"MatMul gradient needs the rank of '{a}'.");
        var rb = g.Rank(b) ?? throw new InvalidOperationException($"MatMul gradient needs the rank of '{b}'.");
        string SwapLast(string v, int rank) => g.Transpose(v, [.. Enumerable.Range(0, rank - 2).Select(i => (long)i), rank - 1, rank - 2]);
        string? da = null, db = null;
        if (needed[0])
            da = ReduceTo(g, g.MatMul(d, SwapLast(b, rb)), a);
        if (needed[1])
        {
            if (rb == 2 && ra > 2)
            {
                // A weight shared over the batch: fold batch and sequence into rows, then Aᵀ·dY in one GEMM.
                string Rows(string v, string like) => g.Shape(like)?[^1].Size is { } columns
                    ? g.Reshape(v, -1, columns)
                    : g.Op("Reshape", [v, g.Op("Concat", [g.Ints(-1), g.Op("Gather", [g.Op("Shape", [like]), g.Ints(-1)])], new() { ["axis"] = 0 })]);
                var a2 = Rows(a, a);
                var d2 = Rows(d, b);
                db = g.Op("Gemm", [a2, d2], new() { ["transA"] = 1 });
            }
            else
            {
                db = ReduceTo(g, g.MatMul(SwapLast(a, ra), d), b);
            }
        }
        return [da, db];
    }

    private static string GatherGrad(GraphBuilder g, Node node, string d)
    {
        var data = node.Inputs[0];
        var indices = node.Inputs[1];
        var axis = Axis(node, 0);
        if (axis == 0)
        {
            // Embedding lookup: add each token's gradient row into a zero table; repeated ids ([CLS], every token type)
            // accumulate. Not ScatterND: ONNX Runtime's CPU ScatterND(add) splits the rows over threads and races on a
            // repeated index. ScatterElements along axis 0 gives each thread whole columns and walks the rows in order,
            // so the sum is exact and the same for any thread count.
            if (g.Rank(data) != 2)
                throw new NotSupportedException("Gather gradients along axis 0 are implemented for tables (rank 2).");
            var rows = g.Shape(data)?[1].Size is { } width
                ? g.Reshape(d, -1, width)
                : g.Op("Reshape", [d, g.Op("Concat", [g.Ints(-1), g.Op("Slice", [g.Op("Shape", [data]), g.Ints(1), g.Ints(2)])], new() { ["axis"] = 0 })]);
            var ids = g.Op("Expand", [g.Reshape(indices, -1, 1), g.Op("Shape", [rows])]);
            return g.Op("ScatterElements", [ZerosLike(g, data), ids, rows], new() { ["axis"] = 0, ["reduction"] = "add" });
        }
        // One position along another axis (the [CLS] pick, as a scalar index or a one-element list): the gradient goes
        // to that position, zeros elsewhere.
        var indexRank = g.Rank(indices);
        if (indexRank is not (0 or 1) || (indexRank == 1 && g.IntValues(indices) is not [_]))
            throw new NotSupportedException("Gather gradients along an axis other than 0 are implemented for one index.");
        var length = g.Op("Gather", [g.Op("Shape", [data]), g.ScalarInt(axis)]);
        var positions = g.Op("Range", [g.ScalarInt(0), length, g.ScalarInt(1)]);
        var hit = g.Cast(g.Op("Equal", [positions, indices]), ElementType.Float);
        var rank = g.Rank(data) ?? throw new InvalidOperationException("Gather gradient needs the data's rank.");
        var maskShape = Enumerable.Repeat(1L, rank).ToArray();
        maskShape[axis] = -1;
        return g.Mul(indexRank == 0 ? g.Unsqueeze(d, axis) : d, g.Reshape(hit, maskShape));
    }

    private static string SliceGrad(GraphBuilder g, Node node, string d)
    {
        // Slices with constant non-negative starts on one constant axis and unit steps (the first L rows of the
        // position table, one task's columns of the logits): zeros are padded back before and after along that axis.
        var starts = g.IntValues(node.Inputs[1]);
        var axes = node.Inputs.Count > 3 ? g.IntValues(node.Inputs[3]) : [0];
        var steps = node.Inputs.Count > 4 ? g.IntValues(node.Inputs[4]) : [1];
        var rank = g.Rank(node.Inputs[0]) ?? throw new InvalidOperationException("Slice gradient needs the data's rank.");
        if (starts is not [var start and >= 0] || axes is not [var axis] || steps is not [1])
            throw new NotSupportedException("Slice gradients are implemented for one axis, constant non-negative starts and unit steps.");
        if (axis < 0)
            axis += rank;
        var at = g.Ints(axis);
        var removed = g.Sub(g.Op("Gather", [g.Op("Shape", [node.Inputs[0]]), at]), g.Op("Gather", [g.Op("Shape", [d]), at]));
        var after = g.Sub(removed, g.Ints(start));
        var onlyAxis = new long[rank];
        onlyAxis[axis] = 1;
        var mask = g.Ints(onlyAxis);
        var before = new long[rank];
        before[axis] = start;
        // pads = [before per axis..., after per axis...]; "after" is only known at run time.
        var pads = g.Op("Concat", [g.Ints(before), g.Mul(mask, after)], new() { ["axis"] = 0 });
        return g.Op("Pad", [d, pads]);
    }

    private static string?[] LayerNormGrad(GraphBuilder g, Node node, string d, bool[] needed)
    {
        // Recompute x̂ = (x − μ)·σ⁻¹ over the last axis; dx = σ⁻¹ · (ĝ − mean(ĝ) − x̂ · mean(ĝ · x̂)) with ĝ = dy · γ.
        var x = node.Inputs[0];
        var gamma = node.Inputs[1];
        var epsilon = (float)node.Attributes["epsilon"].Value;
        var mean = g.ReduceMean(x, [-1], keepDims: true);
        var centered = g.Sub(x, mean);
        var variance = g.ReduceMean(g.Mul(centered, centered), [-1], keepDims: true);
        var invStd = g.Div(g.Scalar(1f), g.Op("Sqrt", [g.Add(variance, g.Scalar(epsilon))]));
        var normalized = g.Mul(centered, invStd);
        string? dx = null, dGamma = null, dBeta = null;
        if (needed[0])
        {
            var gHat = g.Mul(d, gamma);
            var meanG = g.ReduceMean(gHat, [-1], keepDims: true);
            var meanGx = g.ReduceMean(g.Mul(gHat, normalized), [-1], keepDims: true);
            dx = g.Mul(invStd, g.Sub(g.Sub(gHat, meanG), g.Mul(normalized, meanGx)));
        }
        if (needed[1])
            dGamma = ReduceTo(g, g.Mul(d, normalized), gamma);
        if (needed.Length > 2 && needed[2])
            dBeta = ReduceTo(g, d, node.Inputs[2]);
        return [dx, dGamma, dBeta];
    }
}
