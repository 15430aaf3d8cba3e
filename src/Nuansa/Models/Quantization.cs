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
    /// classification head stay float32.
    /// </summary>
    Int8,
}

/// <summary>The int8 forms of <c>torch.nn.Linear</c> and <c>nn.Embedding</c> (see <see cref="Quantization.Int8"/>).</summary>
internal static class QuantizedLinear
{
    /// <summary>
    /// Quantizes a row-major matrix row by row: scale[r] = max|M[r, :]| / 127 and values round(M / scale) (half to
    /// even, as numpy's rint in ONNX Runtime's quantizer). HF stores a linear weight as [out, in], so its rows are
    /// the output channels.
    /// </summary>
    public static (sbyte[] Values, float[] Scales) QuantizeRows(float[] matrix, int rows, int columns)
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
            var scale = max > 0 ? max / 127f : 1f;
            scales[r] = scale;
            for (var c = 0; c < columns; c++)
                values[r * columns + c] = (sbyte)Math.Clamp(MathF.Round(row[c] / scale, MidpointRounding.ToEven), -127, 127);
        }
        return (values, scales);
    }

    /// <summary>
    /// x · Wᵀ + b with W quantized: DynamicQuantizeLinear(x) → MatMulInteger → Cast → × (x_scale · w_scale) → + b.
    /// Standard ONNX ops (so an exported model runs anywhere); ONNX Runtime fuses them into one DynamicQuantizeMatMul.
    /// </summary>
    public static string Build(GraphBuilder g, string x, string name, float[] weight, float[] bias, long outFeatures, long inFeatures)
    {
        var (values, scales) = QuantizeRows(weight, (int)outFeatures, (int)inFeatures);
        // [in, out] for MatMulInteger, as the float32 graph stores its weights.
        var quantized = g.Initializer(TensorData.Int8($"{name}.weight_quantized", [inFeatures, outFeatures], ModelWeights.Transpose(values, (int)outFeatures, (int)inFeatures)));
        var scale = g.Initializer(TensorData.Float($"{name}.weight_scale", [outFeatures], scales));
        var zeroPoint = g.Initializer(TensorData.Int8($"{name}.weight_zero_point", [outFeatures], new sbyte[outFeatures]));
        // Outputs: x as uint8, its scale, its zero point.
        var xq = g.OpOutputs("DynamicQuantizeLinear", [x], 3);
        var product = g.Op("MatMulInteger", [xq[0], quantized, xq[2], zeroPoint]);
        var y = g.Mul(g.Cast(product, ElementType.Float), g.Mul(xq[1], scale));
        return g.Add(y, g.Initializer(TensorData.Float($"{name}.bias", [outFeatures], bias)));
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
