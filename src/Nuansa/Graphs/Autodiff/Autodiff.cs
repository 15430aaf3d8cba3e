namespace Nuansa.Graphs.Autodiff;

/// <summary>
/// Reverse-mode automatic differentiation over Nuansa's graph IR: appends to a graph the nodes that compute
/// the gradient of a scalar loss with respect to chosen inputs, one rule per op (<see cref="GradientRules"/>),
/// so that ONNX Runtime runs forward and backward as one graph.
/// </summary>
internal static class Autodiff
{
    /// <summary>
    /// Adds gradient nodes for <paramref name="loss"/> (a scalar) with respect to each of <paramref name="wrt"/>,
    /// and returns the value holding each gradient. Only nodes between those inputs and the loss are differentiated.
    /// </summary>
    public static IReadOnlyDictionary<string, string> AddGradients(GraphBuilder g, string loss, IReadOnlyCollection<string> wrt)
    {
        var forward = g.Nodes.ToList();
        // Values that depend on a differentiated input.
        var live = new HashSet<string>(wrt, StringComparer.Ordinal);
        foreach (var node in forward)
        {
            if (node.Inputs.Any(live.Contains) && GradientRules.IsDifferentiable(node.OpType))
            {
                foreach (var o in node.Outputs)
                    live.Add(o);
            }
        }
        if (!live.Contains(loss))
            throw new ArgumentException($"The loss '{loss}' does not depend on any of the inputs to differentiate.");

        var grads = new Dictionary<string, string>(StringComparer.Ordinal) { [loss] = g.Scalar(1f) };
        for (var n = forward.Count - 1; n >= 0; n--)
        {
            var node = forward[n];
            if (!GradientRules.IsDifferentiable(node.OpType) || !node.Outputs.Any(grads.ContainsKey))
                continue;
            var outputGrads = node.Outputs.Select(o => grads.GetValueOrDefault(o)).ToArray();
            var needed = node.Inputs.Select(live.Contains).ToArray();
            var inputGrads = GradientRules.Backward(g, node, outputGrads, needed);
            for (var i = 0; i < node.Inputs.Count; i++)
            {
                if (!needed[i] || inputGrads[i] == null)
                    continue;
                var input = node.Inputs[i];
                // A gradient has the shape of its variable, whatever the rule's ops let the builder infer.
                if (g.Shape(input) is { } shape)
                    g.Refine(inputGrads[i]!, shape);
                grads[input] = grads.TryGetValue(input, out var existing) ? g.Add(existing, inputGrads[i]!) : inputGrads[i]!;
            }
        }
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var w in wrt)
        {
            if (!grads.TryGetValue(w, out var grad))
                throw new ArgumentException($"The loss does not depend on '{w}'.");
            result[w] = grad;
        }
        return result;
    }
}
