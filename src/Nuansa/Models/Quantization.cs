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
    /// at run time, multiplied in integers and scaled back to float. Embeddings, LayerNorms, the pooler and the
    /// classification head stay float32.
    /// </summary>
    Int8,
}

/// <summary>The int8 form of a <c>torch.nn.Linear</c> (see <see cref="Quantization.Int8"/>).</summary>
internal static class QuantizedLinear
{
    /// <summary>
    /// Quantizes an HF weight [out, in] to int8 transposed to [in, out] for MatMul, with scale[o] = max|W[o, :]| / 127
    /// and values round(W / scale) (half to even, as numpy's rint in ONNX Runtime's quantizer).
    /// </summary>
    public static (sbyte[] Transposed, float[] Scales) Quantize(float[] weight, int outFeatures, int inFeatures)
    {
        var scales = new float[outFeatures];
        var values = new sbyte[weight.Length];
        for (var o = 0; o < outFeatures; o++)
        {
            var row = weight.AsSpan(o * inFeatures, inFeatures);
            var max = 0f;
            foreach (var w in row)
                max = Math.Max(max, Math.Abs(w));
            // An all-zero row keeps scale 1 (every value quantizes to 0 either way).
            var scale = max > 0 ? max / 127f : 1f;
            scales[o] = scale;
            for (var i = 0; i < inFeatures; i++)
                values[i * outFeatures + o] = (sbyte)Math.Clamp(MathF.Round(row[i] / scale, MidpointRounding.ToEven), -127, 127);
        }
        return (values, scales);
    }

    /// <summary>
    /// x · Wᵀ + b with W quantized: DynamicQuantizeLinear(x) → MatMulInteger → Cast → × (x_scale · w_scale) → + b.
    /// Standard ONNX ops (so an exported model runs anywhere); ONNX Runtime fuses them into one DynamicQuantizeMatMul.
    /// </summary>
    public static string Build(GraphBuilder g, string x, string name, float[] weight, float[] bias, long outFeatures, long inFeatures)
    {
        var (values, scales) = Quantize(weight, (int)outFeatures, (int)inFeatures);
        var quantized = g.Initializer(TensorData.Int8($"{name}.weight_quantized", [inFeatures, outFeatures], values));
        var scale = g.Initializer(TensorData.Float($"{name}.weight_scale", [outFeatures], scales));
        var zeroPoint = g.Initializer(TensorData.Int8($"{name}.weight_zero_point", [outFeatures], new sbyte[outFeatures]));
        // Outputs: x as uint8, its scale, its zero point.
        var xq = g.OpOutputs("DynamicQuantizeLinear", [x], 3);
        var product = g.Op("MatMulInteger", [xq[0], quantized, xq[2], zeroPoint]);
        var y = g.Mul(g.Cast(product, ElementType.Float), g.Mul(xq[1], scale));
        return g.Add(y, g.Initializer(TensorData.Float($"{name}.bias", [outFeatures], bias)));
    }
}
