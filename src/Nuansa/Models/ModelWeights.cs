using Nuansa.Checkpoints;
using Nuansa.Graphs;

namespace Nuansa.Models;

/// <summary>
/// What one graph build reads and collects. It looks up a checkpoint's tensors by their HF names: accepts a missing
/// base-model prefix (<c>bert.</c>, <c>roberta.</c>, ...) and the old <c>LayerNorm.gamma/beta</c> names as HF's loader
/// does, checks every shape against the config, and names the tensor at fault when something is missing or wrong. In a
/// trainable graph it records each parameter as the graph asks for it (the model's parameter layout) and each dropout mask.
/// </summary>
internal sealed class ModelWeights(WeightStore? store, string basePrefix, bool trainable = false, Quantization quantization = Quantization.None,
    Int8Weights int8Weights = Int8Weights.Auto, bool fused = false, bool readValues = true)
{
    private readonly Dictionary<string, float[]> _inputs = new(StringComparer.Ordinal);
    private readonly List<Parameter> _parameters = [];
    private readonly HashSet<string> _parameterNames = new(StringComparer.Ordinal);

    /// <summary>Weights with no checkpoint behind them: the graph is built only to record its parameters.</summary>
    public static ModelWeights Recorder(string basePrefix) => new(null, basePrefix, trainable: true);

    /// <summary>The checkpoint read (null for a <see cref="Recorder"/>).</summary>
    public WeightStore? Store { get; } = store;

    /// <summary>
    /// True for training graphs: every weight becomes a graph input (named as in HF, in HF's layout) whose values
    /// the trainer feeds and updates, instead of a constant baked into the graph.
    /// </summary>
    public bool Trainable { get; } = trainable;

    /// <summary>How the encoder's linear layers compute (inference graphs only).</summary>
    public Quantization Quantization { get; } = trainable && quantization != Quantization.None
        ? throw new ArgumentException("Training graphs are not quantized.", nameof(quantization))
        : quantization;

    /// <summary>For int8 graphs, the weight form, resolved for this machine when Auto was asked for.</summary>
    public Int8Weights Int8Weights { get; } = quantization == Quantization.Int8 ? Int8Kernels.Resolve(int8Weights) : int8Weights;

    /// <summary>
    /// The graph uses ONNX Runtime's fused attention operators (inference graphs; see <see cref="GraphOptions.Fused"/>):
    /// Attention in float32, QAttention in int8 — the input quantized once for the query, key and value products
    /// together instead of once for each, then one kernel for the products, scores, softmax and context. Measured on
    /// BERT-base (2 threads, AMD EPYC Zen 4), against the standard operators as ONNX Runtime fuses them: +1–4% with the
    /// VNNI kernels, +2–8% with the AVX2 kernels (the same host, its CPUID masked; bench/avx2-only.sh).
    /// </summary>
    public bool Fused { get; } = trainable && fused ? throw new ArgumentException("Training graphs are not fused.", nameof(fused)) : fused;

    /// <summary>In a trainable graph, the initial values of each weight input, by name.</summary>
    public IReadOnlyDictionary<string, float[]> Inputs => _inputs;

    /// <summary>In a trainable graph, its parameters in the order the graph asked for them (HF's <c>named_parameters()</c> order).</summary>
    public IReadOnlyList<Parameter> Parameters => _parameters;

    /// <summary>
    /// A training graph's dropout layers: each is a multiplication by a mask that is a graph input, drawn by the
    /// trainer from the seed and the step, so a resumed run draws exactly the same masks.
    /// </summary>
    public List<DropoutMask> DropoutMasks { get; } = [];

    /// <summary>The tensor's values (widened to float32), after checking its shape.</summary>
    public float[] Get(string name, params long[] shape) => Store!.GetSingle(Check(name, shape));

    /// <summary>The stored name of the tensor, after checking that it exists with this shape.</summary>
    private string Check(string name, long[] shape)
    {
        var stored = Resolve(name);
        var info = Store!.GetInfo(stored);
        if (!info.Shape.SequenceEqual(shape))
        {
            throw new CheckpointFormatException(
                $"Tensor '{stored}' has shape [{string.Join(", ", info.Shape)}], but the config implies [{string.Join(", ", shape)}]; the weights do not match config.json.");
        }
        return stored;
    }

    public bool Has(string name) => TryResolve(name) != null;

    /// <summary>The name the checkpoint stores <paramref name="name"/> under (with or without the base prefix, gamma/beta).</summary>
    public string ResolveName(string name) => Resolve(name);

    /// <summary>Adds a tensor to the graph under its HF name: a constant, or in a trainable graph a parameter input.</summary>
    private string Constant(GraphBuilder g, string name, long[] shape, ParameterKind kind, long? paddingRow = null)
    {
        if (!Trainable)
            return g.Initializer(TensorData.Float(name, shape, Get(name, shape)));
        if (_parameterNames.Add(name))
        {
            _parameters.Add(new Parameter(name, shape, kind, paddingRow));
            // A graph fed other values (evaluation during training) only checks the shapes.
            if (Store != null && readValues)
                _inputs[name] = Get(name, shape);
            else if (Store != null)
                Check(name, shape);
            g.Input(name, ElementType.Float, [.. shape.Select(d => (Dim)d)]);
        }
        return name;
    }

    /// <summary>An embedding table used whole or sliced (position and token type tables), [rows, size].</summary>
    public string Table(GraphBuilder g, string name, long rows, long size, long? paddingRow = null) =>
        Constant(g, name, [rows, size], ParameterKind.Embedding, paddingRow);

    /// <summary>A <c>torch.nn.Linear</c> as (x @ Wᵀ + b): the weight is stored transposed, [in, out], for MatMul.</summary>
    public string Linear(GraphBuilder g, string x, string name, long outFeatures, long inFeatures)
    {
        if (Trainable)
        {
            var input = Constant(g, $"{name}.weight", [outFeatures, inFeatures], ParameterKind.LinearWeight);
            return g.Add(g.MatMul(x, g.Transpose(input, 1, 0)), Constant(g, $"{name}.bias", [outFeatures], ParameterKind.Bias));
        }
        var w = Get($"{name}.weight", outFeatures, inFeatures);
        // The encoder layers' linears (".layer.N." in every family's names) carry nearly all the compute.
        if (Quantization == Quantization.Int8 && name.Contains(".layer.", StringComparison.Ordinal))
            return QuantizedLinear.Build(g, x, name, w, Get($"{name}.bias", outFeatures), outFeatures, inFeatures, Int8Weights);
        var weight = g.Initializer(TensorData.Float($"{name}.weight", [inFeatures, outFeatures], Transpose(w, (int)outFeatures, (int)inFeatures)));
        var bias = Constant(g, $"{name}.bias", [outFeatures], ParameterKind.Bias);
        return g.Add(g.MatMul(x, weight), bias);
    }

    /// <summary>
    /// Several linears of the same input as one [in, Σ out] weight (and bias), their outputs side by side: one
    /// large product instead of several small ones.
    /// </summary>
    public (string Weight, string Bias) MergedLinear(GraphBuilder g, string name, IReadOnlyList<string> linears, long outFeatures, long inFeatures)
    {
        var total = outFeatures * linears.Count;
        var weight = Transpose(Stacked(linears, "weight", outFeatures, inFeatures), (int)total, (int)inFeatures);
        return (g.Initializer(TensorData.Float($"{name}.weight", [inFeatures, total], weight)), MergedBias(g, name, linears, outFeatures));
    }

    /// <summary>
    /// <see cref="MergedLinear"/> in int8: the linears' rows quantized as <see cref="QuantizedLinear.Build"/> quantizes
    /// each (a scale per output channel, so every value is what the separate linears hold), stored [in, Σ out].
    /// </summary>
    public (string Weight, string Scale, string Bias) MergedQuantizedLinear(GraphBuilder g, string name, IReadOnlyList<string> linears, long outFeatures, long inFeatures)
    {
        var (quantized, scales) = QuantizedLinear.Weight(g, name, Stacked(linears, "weight", outFeatures, inFeatures), outFeatures * linears.Count, inFeatures, Int8Weights);
        return (quantized, scales, MergedBias(g, name, linears, outFeatures));
    }

    // The linears' tensors one after another: their [out, in] weights stacked as one [Σ out, in], their biases as one [Σ out].
    private float[] Stacked(IReadOnlyList<string> linears, string tensor, params long[] shape) => [.. linears.SelectMany(l => Get($"{l}.{tensor}", shape))];

    private string MergedBias(GraphBuilder g, string name, IReadOnlyList<string> linears, long outFeatures) =>
        g.Initializer(TensorData.Float($"{name}.bias", [outFeatures * linears.Count], Stacked(linears, "bias", outFeatures)));

    /// <summary>An <c>nn.Embedding</c> lookup of <paramref name="ids"/>; int8-quantized models store the table as int8 rows.</summary>
    public string Embedding(GraphBuilder g, string name, long rows, long size, string ids, long? paddingRow = null)
    {
        if (Quantization != Quantization.Int8)
            return g.Gather(Table(g, $"{name}.weight", rows, size, paddingRow), ids);
        return QuantizedLinear.Embedding(g, name, Get($"{name}.weight", rows, size), rows, size, ids);
    }

    /// <summary>A row-major [rows, columns] matrix as [columns, rows] (HF's [out, in] linear weights → MatMul's [in, out]).</summary>
    internal static T[] Transpose<T>(T[] matrix, int rows, int columns)
    {
        var transposed = new T[matrix.Length];
        for (var r = 0; r < rows; r++)
        {
            for (var c = 0; c < columns; c++)
                transposed[c * rows + r] = matrix[r * columns + c];
        }
        return transposed;
    }

    /// <summary>A LayerNorm with its weight and bias.</summary>
    public string LayerNorm(GraphBuilder g, string x, string name, long size, double epsilon) =>
        g.LayerNorm(x, Constant(g, $"{name}.weight", [size], ParameterKind.LayerNormWeight), Constant(g, $"{name}.bias", [size], ParameterKind.LayerNormBias), epsilon);

    /// <summary>A residual block's end: LayerNorm(dropout(linear(x)) + residual).</summary>
    /// <remarks>
    /// Not ONNX Runtime's SkipLayerNormalization: measured on BERT-base (AMD EPYC Zen 4, 2 threads) its CPU kernel
    /// took twice as long as the Add and LayerNormalization it replaces.
    /// </remarks>
    public string AddAndNorm(GraphBuilder g, string x, string residual, string linear, long outFeatures, long inFeatures, string layerNorm, double epsilon, Func<string, string> dropout) =>
        LayerNorm(g, g.Add(dropout(Linear(g, x, linear, outFeatures, inFeatures)), residual), layerNorm, outFeatures, epsilon);

    private string Resolve(string name) =>
        TryResolve(name) ?? throw new CheckpointFormatException(
            $"The checkpoint has no tensor '{name}' (nor a variant without the '{basePrefix}' prefix or with gamma/beta names); " +
            (name.StartsWith("classifier", StringComparison.Ordinal) || name.StartsWith("pre_classifier", StringComparison.Ordinal)
                ? "it looks like a base model without a classification head: fine-tune it first."
                : "the file is incomplete or is not this architecture."));

    private string? TryResolve(string name)
    {
        foreach (var candidate in Candidates(name))
        {
            if (Store!.Contains(candidate))
                return candidate;
        }
        return null;
    }

    private IEnumerable<string> Candidates(string name)
    {
        var names = new List<string> { name };
        if (basePrefix.Length > 0 && name.StartsWith(basePrefix, StringComparison.Ordinal))
            names.Add(name[basePrefix.Length..]);
        foreach (var n in names)
        {
            yield return n;
            if (n.EndsWith("LayerNorm.weight", StringComparison.Ordinal))
                yield return n[..^"weight".Length] + "gamma";
            if (n.EndsWith("LayerNorm.bias", StringComparison.Ordinal))
                yield return n[..^"bias".Length] + "beta";
        }
    }
}
