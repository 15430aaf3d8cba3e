using System.Runtime.InteropServices;

namespace Nuansa.Graphs.Onnx;

/// <summary>
/// Serializes a <see cref="Graph"/> as an ONNX <c>ModelProto</c>, writing only the fields Nuansa uses
/// (field numbers from onnx.proto). Weights go into <c>raw_data</c> as little-endian bytes.
/// </summary>
public static class OnnxWriter
{
    /// <summary>The ONNX opset Nuansa's graphs use (LayerNormalization needs 17).</summary>
    public const int Opset = 17;

    /// <summary>IR version 8 matches opset 17.</summary>
    public const int IrVersion = 8;

    public static byte[] Serialize(Graph graph)
    {
        var model = new ProtoWriter();
        model.Int(1, IrVersion);                       // ir_version
        model.String(2, "nuansa");                     // producer_name
        model.String(3, typeof(OnnxWriter).Assembly.GetName().Version?.ToString() ?? "0"); // producer_version
        model.Message(7, g => WriteGraph(g, graph));   // graph
        model.Message(8, o => { o.String(1, ""); o.Int(2, Opset); });              // opset_import (default domain)
        if (graph.Nodes.Any(n => n.Domain == "com.microsoft"))
            model.Message(8, o => { o.String(1, "com.microsoft"); o.Int(2, 1); });
        return model.ToArray();
    }

    public static void Write(string path, Graph graph) => AtomicFile.Write(path, s => s.Write(Serialize(graph)));

    private static void WriteGraph(ProtoWriter g, Graph graph)
    {
        foreach (var node in graph.Nodes)
            g.Message(1, n => WriteNode(n, node));
        g.String(2, graph.Name);
        foreach (var tensor in graph.Initializers)
            g.Message(5, t => WriteTensor(t, tensor));
        foreach (var input in graph.Inputs)
            g.Message(11, v => WriteValueInfo(v, input));
        foreach (var output in graph.Outputs)
            g.Message(12, v => WriteValueInfo(v, output));
    }

    private static void WriteNode(ProtoWriter n, Node node)
    {
        foreach (var input in node.Inputs)
            n.String(1, input);
        foreach (var output in node.Outputs)
            n.String(2, output);
        n.String(3, node.Outputs[0]);
        n.String(4, node.OpType);
        foreach (var (name, value) in node.Attributes.OrderBy(a => a.Key, StringComparer.Ordinal))
            n.Message(5, a => WriteAttribute(a, name, value));
        if (node.Domain.Length > 0)
            n.String(7, node.Domain);
    }

    private static void WriteAttribute(ProtoWriter a, string name, AttributeValue attribute)
    {
        a.String(1, name);
        switch (attribute.Value)
        {
            case float f: a.Float(2, f); a.Int(20, 1); break;
            case long i: a.Int(3, i); a.Int(20, 2); break;
            case string s: a.String(4, s); a.Int(20, 3); break;
            case TensorData t: a.Message(5, w => WriteTensor(w, t)); a.Int(20, 4); break;
            case float[] fs: a.PackedFloats(7, fs); a.Int(20, 6); break;
            case long[] ints: a.PackedInts(8, ints); a.Int(20, 7); break;
            default: throw new ArgumentException($"Attribute '{name}' has an unsupported type {attribute.Value.GetType().Name}.");
        }
    }

    private static void WriteTensor(ProtoWriter t, TensorData tensor)
    {
        t.PackedInts(1, tensor.Dims);
        t.Int(2, (int)tensor.Type);
        t.String(8, tensor.Name);
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("ONNX raw_data is little-endian; big-endian hosts are not supported.");
        if (tensor.Floats != null)
            t.Bytes(9, MemoryMarshal.AsBytes(tensor.Floats.AsSpan()));
        else
            t.Bytes(9, MemoryMarshal.AsBytes(tensor.Longs.AsSpan()));
    }

    private static void WriteValueInfo(ProtoWriter v, ValueInfo info)
    {
        v.String(1, info.Name);
        v.Message(2, type => type.Message(1, tensor =>
        {
            tensor.Int(1, (int)info.Type);
            tensor.Message(2, shape =>
            {
                foreach (var dim in info.Shape)
                {
                    shape.Message(1, d =>
                    {
                        if (dim.Symbol != null)
                            d.String(2, dim.Symbol);
                        else
                            d.Int(1, dim.Size ?? 0);
                    });
                }
            });
        }));
    }
}
