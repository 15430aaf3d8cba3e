using System.Runtime.InteropServices;

namespace Nuansa.Graphs.Onnx;

/// <summary>
/// Serializes a <see cref="Graph"/> as an ONNX <c>ModelProto</c>, writing only the fields Nuansa uses
/// (field numbers from onnx.proto). Weights go into <c>raw_data</c> as little-endian bytes.
/// </summary>
internal static class OnnxWriter
{
    /// <summary>The ONNX opset Nuansa's graphs use (LayerNormalization needs 17).</summary>
    public const int Opset = 17;

    /// <summary>IR version 8 matches opset 17.</summary>
    public const int IrVersion = 8;

    /// <summary>
    /// The model as bytes. Tensors that <paramref name="external"/> places elsewhere (returning a location and an
    /// offset) are written as ONNX external-data references instead of inline bytes: for models over protobuf's
    /// 2 GB limit, and for sessions that hand ONNX Runtime the weights directly.
    /// </summary>
    public static byte[] Serialize(Graph graph, Func<TensorData, (string Location, long Offset)?>? external = null)
    {
        var model = new ProtoWriter();
        model.Int(1, IrVersion);                       // ir_version
        model.String(2, "nuansa");                     // producer_name
        model.String(3, typeof(OnnxWriter).Assembly.GetName().Version?.ToString() ?? "0"); // producer_version
        model.Message(7, g => WriteGraph(g, graph, external));   // graph
        model.Message(8, o => { o.String(1, ""); o.Int(2, Opset); });              // opset_import (default domain)
        if (graph.Nodes.Any(n => n.Domain == "com.microsoft"))
            model.Message(8, o => { o.String(1, "com.microsoft"); o.Int(2, 1); });
        foreach (var (key, value) in graph.Metadata.OrderBy(m => m.Key, StringComparer.Ordinal))
            model.Message(14, e => { e.String(1, key); e.String(2, value); });   // metadata_props
        return model.ToArray();
    }

    /// <summary>
    /// Writes <paramref name="path"/>; a model whose weights pass <paramref name="inlineLimit"/> bytes keeps them in
    /// <c>&lt;name&gt;_data</c> beside it (ONNX external data, as HF Optimum names it). Returns the files written.
    /// </summary>
    public static IReadOnlyList<string> Write(string path, Graph graph, long inlineLimit = 1L << 30) =>
        Write(path, graph, inlineLimit, AtomicFile.Write);

    /// <summary>
    /// <see cref="Write(string, Graph, long)"/> through <paramref name="writeFile"/> (a path and what to write into
    /// it): <see cref="AtomicFile.Write"/> for files users keep, a plain stream for a session's temporary copy.
    /// </summary>
    internal static IReadOnlyList<string> Write(string path, Graph graph, long inlineLimit, Action<string, Action<Stream>> writeFile)
    {
        var total = graph.Initializers.Sum(ByteLength);
        if (total <= inlineLimit)
        {
            writeFile(path, s => s.Write(Serialize(graph)));
            return [path];
        }
        var dataName = System.IO.Path.GetFileName(path) + "_data";
        // Every tensor starts on a 64-byte boundary: ONNX Runtime maps the file into memory, and kernels reading
        // weights in place then get them aligned as from its own allocator.
        var placed = new List<(TensorData Tensor, long Offset)>();
        long offset = 0;
        foreach (var tensor in graph.Initializers.Where(t => ByteLength(t) >= 1024))
        {
            placed.Add((tensor, offset));
            offset = (offset + ByteLength(tensor) + DataAlignment - 1) / DataAlignment * DataAlignment;
        }
        var offsets = placed.ToDictionary(p => p.Tensor, p => p.Offset);
        writeFile(System.IO.Path.Combine(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!, dataName), s =>
        {
            long written = 0;
            Span<byte> padding = stackalloc byte[(int)DataAlignment];
            foreach (var (tensor, start) in placed)
            {
                s.Write(padding[..(int)(start - written)]);
                s.Write(Bytes(tensor));
                written = start + ByteLength(tensor);
            }
        });
        writeFile(path, s => s.Write(Serialize(graph, t => offsets.TryGetValue(t, out var o) ? (dataName, o) : null)));
        return [path, dataName];
    }

    private const long DataAlignment = 64;

    public static long ByteLength(TensorData tensor) => Bytes(tensor).Length;

    private static ReadOnlySpan<byte> Bytes(TensorData tensor) =>
        tensor.Floats != null ? MemoryMarshal.AsBytes(tensor.Floats.AsSpan())
        : tensor.Longs != null ? MemoryMarshal.AsBytes(tensor.Longs.AsSpan())
        : MemoryMarshal.AsBytes(tensor.SBytes.AsSpan());

    private static void WriteGraph(ProtoWriter g, Graph graph, Func<TensorData, (string Location, long Offset)?>? external)
    {
        foreach (var node in graph.Nodes)
            g.Message(1, n => WriteNode(n, node));
        g.String(2, graph.Name);
        foreach (var tensor in graph.Initializers)
            g.Message(5, t => WriteTensor(t, tensor, external?.Invoke(tensor)));
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
            case TensorData t: a.Message(5, w => WriteTensor(w, t, null)); a.Int(20, 4); break;
            case float[] fs: a.PackedFloats(7, fs); a.Int(20, 6); break;
            case long[] ints: a.PackedInts(8, ints); a.Int(20, 7); break;
            default: throw new ArgumentException($"Attribute '{name}' has an unsupported type {attribute.Value.GetType().Name}.");
        }
    }

    private static void WriteTensor(ProtoWriter t, TensorData tensor, (string Location, long Offset)? external)
    {
        t.PackedInts(1, tensor.Dims);
        t.Int(2, (int)tensor.Type);
        t.String(8, tensor.Name);
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("ONNX raw_data is little-endian; big-endian hosts are not supported.");
        if (external is { } where)
        {
            // external_data entries (location, offset, length) and data_location = EXTERNAL
            foreach (var (key, value) in new[] { ("location", where.Location), ("offset", where.Offset.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                         ("length", ByteLength(tensor).ToString(System.Globalization.CultureInfo.InvariantCulture)) })
            {
                t.Message(13, e => { e.String(1, key); e.String(2, value); });
            }
            t.Int(14, 1);
            return;
        }
        t.Raw(9, (Array?)tensor.Floats ?? (Array?)tensor.Longs ?? tensor.SBytes!);
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
