using System.IO.Compression;
using System.Text;

namespace Nuansa.Tests.Checkpoints;

/// <summary>Writes pickle opcodes by hand (protocol 2), to build torch.save-style archives for tests.</summary>
internal sealed class PickleBuilder
{
    private readonly List<byte> _bytes = [0x80, 2];

    public PickleBuilder Op(char opcode)
    {
        _bytes.Add((byte)opcode);
        return this;
    }

    public PickleBuilder Raw(params byte[] bytes)
    {
        _bytes.AddRange(bytes);
        return this;
    }

    public PickleBuilder Mark() => Op('(');

    public PickleBuilder Global(string module, string name)
    {
        Op('c');
        _bytes.AddRange(Encoding.ASCII.GetBytes($"{module}\n{name}\n"));
        return this;
    }

    public PickleBuilder String(string value)
    {
        var utf8 = Encoding.UTF8.GetBytes(value);
        Op('X');
        _bytes.AddRange(BitConverter.GetBytes(utf8.Length));
        _bytes.AddRange(utf8);
        return this;
    }

    public PickleBuilder Int(int value)
    {
        Op('J');
        _bytes.AddRange(BitConverter.GetBytes(value));
        return this;
    }

    public PickleBuilder IntTuple(params int[] values)
    {
        Mark();
        foreach (var v in values)
            Int(v);
        return Op('t');
    }

    /// <summary>One state-dict entry: key → _rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict()).</summary>
    public PickleBuilder Tensor(string key, string storageType, string storageKey, int numel, int offset, int[] size, int[] stride)
    {
        String(key);
        Global("torch._utils", "_rebuild_tensor_v2");
        Mark();
        Mark().String("storage").Global("torch", storageType).String(storageKey).String("cpu").Int(numel).Op('t').Op('Q');
        Int(offset).IntTuple(size).IntTuple(stride).Op('\x89');
        Global("collections", "OrderedDict").Op(')').Op('R');
        Op('t').Op('R');
        return this;
    }

    public byte[] ToArray() => [.. _bytes];

    /// <summary>A state dict {entries...} in a torch.save zip archive with the given storages.</summary>
    public static byte[] Archive(Action<PickleBuilder> entries, IReadOnlyDictionary<string, byte[]> storages)
    {
        var pickle = new PickleBuilder().Op('}').Mark();
        entries(pickle);
        pickle.Op('u').Op('.');
        return Zip(pickle.ToArray(), storages);
    }

    public static byte[] Zip(byte[] pickle, IReadOnlyDictionary<string, byte[]> storages)
    {
        using var buffer = new MemoryStream();
        using (var zip = new ZipArchive(buffer, ZipArchiveMode.Create, leaveOpen: true))
        {
            Add(zip, "archive/data.pkl", pickle);
            Add(zip, "archive/byteorder", Encoding.ASCII.GetBytes("little"));
            foreach (var (key, data) in storages)
                Add(zip, $"archive/data/{key}", data);
            Add(zip, "archive/version", Encoding.ASCII.GetBytes("3\n"));
        }
        return buffer.ToArray();
    }

    private static void Add(ZipArchive zip, string name, byte[] data)
    {
        using var stream = zip.CreateEntry(name, CompressionLevel.NoCompression).Open();
        stream.Write(data);
    }
}
