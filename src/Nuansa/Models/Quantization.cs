using Nuansa.Graphs;

namespace Nuansa.Models;

/// <summary>How the encoder's linear layers compute at inference.</summary>
public enum Quantization
{
    /// <summary>float32, exactly the checkpoint's weights.</summary>
    None,

    /// <summary>
    /// Dynamic int8, as ONNX Runtime's <c>quantize_dynamic</c> and HF Optimum's CPU configs do it: each weight matrix
    /// is stored as int8 with one symmetric scale per output channel; activations are quantized to uint8 per tensor
    /// at run time, multiplied in integers and scaled back to float. The word-embedding table is stored as int8 rows
    /// with a scale each (a quarter of its size). Position and token-type embeddings, LayerNorms, the pooler and the
    /// classification head stay float32. How many of the 8 bits the weights use is <see cref="Int8Weights"/>.
    /// </summary>
    Int8,
}

/// <summary>
/// How int8 weights use their 8 bits. On x64 CPUs without int8 dot-product instructions (VNNI), ONNX Runtime's
/// uint8 × int8 kernel adds pairs of products in 16 bits, which saturates with full-range weights (255 · 127 · 2 is
/// past 32,767): results are wrong, not just less precise. 7-bit weights can never saturate there (255 · 64 · 2).
/// </summary>
public enum Int8Weights
{
    /// <summary>The most precise form that is exact on this machine: <see cref="FullRange"/> where ONNX Runtime's int8 kernel is exact with it, else <see cref="ReducedRange"/>.</summary>
    Auto,

    /// <summary>Weights in ±127: the most precise form; exact on CPUs with AVX512-VNNI or AVX-VNNI (and on Arm64), wrong on AVX2-only x64 CPUs.</summary>
    FullRange,

    /// <summary>Weights in ±64 (ONNX Runtime's <c>reduce_range</c>): half the precision, exact on every CPU; what exported files use by default.</summary>
    ReducedRange,
}

/// <summary>What this machine's CPU and ONNX Runtime do with int8 matrix products.</summary>
public static class Int8Kernels
{
    private static readonly Lazy<bool> FullRangeExact = new(ProbeFullRange);

    // CPUID does not change while the process runs: read once.
    private static readonly (bool HasDotProducts, string Text) Cpu = Describe();

    /// <summary>
    /// True when the CPU has int8 dot-product instructions ONNX Runtime uses (x64: AVX512-VNNI or AVX-VNNI read from
    /// CPUID, independent of the .NET runtime's own settings; Arm64: always).
    /// </summary>
    public static bool CpuHasDotProducts => Cpu.HasDotProducts;

    /// <summary>The CPU's int8 instructions in a few words, e.g. "AVX512-VNNI" or "AVX2 without VNNI".</summary>
    public static string CpuFeatures => Cpu.Text;

    /// <summary>
    /// True when ONNX Runtime, run here, computes a full-range int8 product exactly: found by running one product
    /// whose pairs of terms would saturate a 16-bit sum (all activations 255, all weights 127), once per process.
    /// </summary>
    public static bool FullRangeIsExact => FullRangeExact.Value;

    /// <summary>The form <paramref name="requested"/> stands for on this machine (Auto resolved by <see cref="FullRangeIsExact"/>).</summary>
    public static Int8Weights Resolve(Int8Weights requested) => requested switch
    {
        Int8Weights.Auto => FullRangeIsExact ? Int8Weights.FullRange : Int8Weights.ReducedRange,
        _ => requested,
    };

    /// <summary>One line saying which form a model uses and why, for load messages and <c>/info</c>.</summary>
    public static string Explain(Int8Weights resolved) => resolved switch
    {
        Int8Weights.FullRange when FullRangeIsExact => $"int8 with 8-bit weights (±127; this CPU has {CpuFeatures})",
        Int8Weights.FullRange => $"int8 with 8-bit weights (±127) although this CPU has {CpuFeatures}: results are NOT exact here",
        _ => $"int8 with 7-bit weights (±64), exact on every CPU (this one has {CpuFeatures})",
    };

    /// <summary>The number of levels each side of zero a weight may take in a form.</summary>
    internal static int Levels(Int8Weights resolved) => resolved switch
    {
        Int8Weights.FullRange => 127,
        Int8Weights.ReducedRange => 64,
        _ => throw new ArgumentException("Resolve Auto first.", nameof(resolved)),
    };

    private static (bool HasDotProducts, string Text) Describe()
    {
        if (System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture == System.Runtime.InteropServices.Architecture.Arm64)
            return (true, "Arm64 dot products");
        if (!System.Runtime.Intrinsics.X86.X86Base.IsSupported)
            return (false, "no x64 SIMD");
        var leaf7 = System.Runtime.Intrinsics.X86.X86Base.CpuId(7, 0);
        var leaf71 = System.Runtime.Intrinsics.X86.X86Base.CpuId(7, 1);
        var avx512Vnni = (leaf7.Ecx & (1 << 11)) != 0;
        var avxVnni = (leaf71.Eax & (1 << 4)) != 0;
        var avx2 = (leaf7.Ebx & (1 << 5)) != 0;
        if (avx512Vnni)
            return (true, "AVX512-VNNI");
        if (avxVnni)
            return (true, "AVX-VNNI");
        return (false, avx2 ? "AVX2 without VNNI" : "no AVX2");
    }

    private static bool ProbeFullRange()
    {
        // x = 1 everywhere quantizes to 255 (zero point 0); w = 1 to 127. Exact: 64 · 255 · 127 · (1/255) · (1/127) = 64.
        // With pairs summed in 16 bits each pair gives 32,767 instead of 64,770 and y comes out near 32.
        const int rows = 4, inFeatures = 64, outFeatures = 8;
        var g = new GraphBuilder("int8_probe");
        var x = g.Input("x", ElementType.Float, rows, inFeatures);
        var y = QuantizedLinear.Build(g, x, "probe", Enumerable.Repeat(1f, outFeatures * inFeatures).ToArray(), new float[outFeatures], outFeatures, inFeatures, Int8Weights.FullRange);
        g.Output(y, "y", ElementType.Float, rows, outFeatures);
        using var session = new Graphs.Onnx.OnnxSession(g.Build(), new Graphs.Onnx.SessionSettings { IntraOpThreads = 1 });
        var result = session.Run(new Dictionary<string, float[]> { ["x"] = Enumerable.Repeat(1f, rows * inFeatures).ToArray() }, [rows, inFeatures], ["y"])[0].Values;
        return result.All(v => Math.Abs(v - inFeatures) < 1e-3);
    }
}


/// <summary>The int8 forms of <c>torch.nn.Linear</c> and <c>nn.Embedding</c> (see <see cref="Quantization.Int8"/>).</summary>
internal static class QuantizedLinear
{
    /// <summary>
    /// Quantizes a row-major matrix row by row: scale[r] = max|M[r, :]| / levels and values round(M / scale) (half
    /// to even, as numpy's rint in ONNX Runtime's quantizer), within ±levels. HF stores a linear weight as [out, in],
    /// so its rows are the output channels.
    /// </summary>
    public static (sbyte[] Values, float[] Scales) QuantizeRows(float[] matrix, int rows, int columns, int levels = 127)
    {
        var scales = new float[rows];
        var values = new sbyte[matrix.Length];
        for (var r = 0; r < rows; r++)
        {
            var row = matrix.AsSpan(r * columns, columns);
            var max = 0f;
            foreach (var m in row)
                max = Math.Max(max, Math.Abs(m));
            // An all-zero row keeps scale 1 (every value quantizes to 0 either way).
            var scale = max > 0 ? max / levels : 1f;
            scales[r] = scale;
            for (var c = 0; c < columns; c++)
                values[r * columns + c] = (sbyte)Math.Clamp(MathF.Round(row[c] / scale, MidpointRounding.ToEven), -levels, levels);
        }
        return (values, scales);
    }

    /// <summary>
    /// x · Wᵀ + b with W quantized in the given (resolved) form: DynamicQuantizeLinear(x) → MatMulInteger → Cast →
    /// × (x_scale · w_scale) → + b. Standard ONNX ops (so an exported model runs anywhere); ONNX Runtime fuses them
    /// into one DynamicQuantizeMatMul.
    /// </summary>
    public static string Build(GraphBuilder g, string x, string name, float[] weight, float[] bias, long outFeatures, long inFeatures, Int8Weights form)
    {
        var (quantized, scale) = Weight(g, name, weight, outFeatures, inFeatures, form);
        var zeroPoint = g.Initializer(TensorData.Int8($"{name}.weight_zero_point", [outFeatures], new sbyte[outFeatures]));
        // Outputs: x as uint8, its scale, its zero point.
        var xq = g.OpOutputs("DynamicQuantizeLinear", [x], 3);
        var product = g.Op("MatMulInteger", [xq[0], quantized, xq[2], zeroPoint]);
        var y = g.Mul(g.Cast(product, ElementType.Float), g.Mul(xq[1], scale));
        return g.Add(y, g.Initializer(TensorData.Float($"{name}.bias", [outFeatures], bias)));
    }

    /// <summary>
    /// An HF [out, in] linear weight quantized in the given (resolved) form as initializers: the int8 values stored
    /// [in, out] (MatMulInteger's layout, as the float32 graph stores its weights) and one scale per output channel.
    /// </summary>
    public static (string Quantized, string Scale) Weight(GraphBuilder g, string name, float[] weight, long outFeatures, long inFeatures, Int8Weights form)
    {
        var (values, scales) = QuantizeRows(weight, (int)outFeatures, (int)inFeatures, Int8Kernels.Levels(form));
        return (g.Initializer(TensorData.Int8($"{name}.weight_quantized", [inFeatures, outFeatures], ModelWeights.Transpose(values, (int)outFeatures, (int)inFeatures))),
            g.Initializer(TensorData.Float($"{name}.weight_scale", [outFeatures], scales)));
    }

    /// <summary>
    /// An embedding table stored as int8 rows, each with scale max|row| / 127: the looked-up rows are widened back to
    /// float (Gather → Cast → × the rows' scales), so only the table shrinks; the lookup costs the same.
    /// </summary>
    public static string Embedding(GraphBuilder g, string name, float[] table, long rows, long size, string ids)
    {
        var (values, scales) = QuantizeRows(table, (int)rows, (int)size);
        var quantized = g.Initializer(TensorData.Int8($"{name}.weight_quantized", [rows, size], values));
        var scale = g.Initializer(TensorData.Float($"{name}.weight_scale", [rows, 1], scales));
        return g.Mul(g.Cast(g.Gather(quantized, ids), ElementType.Float), g.Gather(scale, ids));
    }
}
