using System.IO.Compression;

namespace Nuansa.Checkpoints;

/// <summary>
/// Reads a state dict saved by <c>torch.save</c> in its zip container (PyTorch ≥ 1.6, what HF writes as
/// <c>pytorch_model.bin</c>). The pickle is interpreted by <see cref="PickleReader"/> against an
/// allow-list; the tensors' bytes come from the archive's <c>data/</c> entries.
/// </summary>
public static class TorchCheckpoint
{
    /// <summary>Limit on the pickle itself; a state dict's pickle is a few hundred KB.</summary>
    public const long MaxPickleBytes = 256L << 20;

    /// <summary>Reads every tensor of the state dict, in the pickle's order, as contiguous little-endian bytes.</summary>
    public static IReadOnlyList<(TensorInfo Info, byte[] Data)> Load(string path)
    {
        FileStream stream;
        try
        {
            stream = File.OpenRead(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new CheckpointFormatException($"{path}: file not found.", e);
        }

        using (stream)
        {
            Span<byte> magic = stackalloc byte[4];
            if (stream.Length < 4 || stream.ReadAtLeast(magic, 4, throwOnEndOfStream: false) < 4 || magic[0] != 'P' || magic[1] != 'K')
            {
                throw new CheckpointFormatException(
                    $"{path}: not a zip archive. Only the zip format torch.save has used since PyTorch 1.6 is supported; " +
                    "re-save the checkpoint with a recent PyTorch or convert it to safetensors.");
            }
            stream.Position = 0;
            ZipArchive zip;
            try
            {
                zip = new ZipArchive(stream, ZipArchiveMode.Read, leaveOpen: true);
            }
            catch (InvalidDataException e)
            {
                throw new CheckpointFormatException($"{path}: damaged zip archive: {e.Message}", e);
            }
            using (zip)
            {
                try
                {
                    return Read(zip, path);
                }
                catch (InvalidDataException e)
                {
                    throw new CheckpointFormatException($"{path}: damaged zip archive: {e.Message}", e);
                }
            }
        }
    }

    private static List<(TensorInfo, byte[])> Read(ZipArchive zip, string path)
    {
        var pickles = zip.Entries.Where(e => e.FullName.EndsWith("data.pkl", StringComparison.Ordinal)
                                             && e.FullName.Count(c => c == '/') == 1).ToList();
        if (pickles.Count != 1)
            throw new CheckpointFormatException($"{path}: expected one '<name>/data.pkl' entry in the archive, found {pickles.Count}.");
        var prefix = pickles[0].FullName[..^"data.pkl".Length];

        var byteOrder = zip.GetEntry(prefix + "byteorder");
        if (byteOrder != null)
        {
            var order = System.Text.Encoding.ASCII.GetString(ReadEntry(byteOrder, 16, path)).Trim();
            if (order != "little")
                throw new CheckpointFormatException($"{path}: saved with byte order '{order}'; only little-endian checkpoints are supported.");
        }

        var root = PickleReader.Load(ReadEntry(pickles[0], MaxPickleBytes, path), path);
        if (root is not PickleDict dict)
            throw new CheckpointFormatException($"{path}: the pickle holds a {root?.GetType().Name ?? "None"}, not a state dict.");

        var storages = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        var result = new List<(TensorInfo, byte[])>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (key, value) in dict.Items)
        {
            if (key is not string name)
                throw new CheckpointFormatException($"{path}: the state dict has a key that is not a string.");
            if (value is not TorchTensorRef tensor)
                throw new CheckpointFormatException($"{path}: state dict entry '{name}' is not a tensor.");
            if (!names.Add(name))
                throw new CheckpointFormatException($"{path}: state dict names '{name}' twice.");
            var storage = tensor.Storage;
            if (!storages.TryGetValue(storage.Key, out var bytes))
            {
                var expected = checked(storage.ElementCount * storage.DType.Size());
                var entry = zip.GetEntry($"{prefix}data/{storage.Key}")
                            ?? throw new CheckpointFormatException($"{path}: storage '{storage.Key}' of tensor '{name}' is missing from the archive.");
                if (entry.Length != expected)
                    throw new CheckpointFormatException($"{path}: storage '{storage.Key}' is {entry.Length} bytes, but {storage.DType.Name()} × {storage.ElementCount} needs {expected}.");
                bytes = ReadEntry(entry, expected, path);
                storages[storage.Key] = bytes;
            }
            var info = new TensorInfo(name, storage.DType, tensor.Size);
            result.Add((info, Gather(tensor, bytes, info, path)));
        }
        return result;
    }

    // Copies a (possibly strided) view of a storage into a contiguous row-major buffer.
    private static byte[] Gather(TorchTensorRef tensor, byte[] storage, TensorInfo info, string path)
    {
        var rank = tensor.Size.Length;
        if (tensor.Stride.Length != rank)
            throw new CheckpointFormatException($"{path}: tensor '{info.Name}' has {rank} sizes but {tensor.Stride.Length} strides.");
        var elementSize = info.DType.Size();
        var output = new byte[info.ByteLength];
        if (info.ElementCount == 0)
            return output;

        long last = tensor.Offset;
        for (var d = 0; d < rank; d++)
        {
            if (tensor.Stride[d] < 0)
                throw new CheckpointFormatException($"{path}: tensor '{info.Name}' has a negative stride.");
            last = checked(last + (tensor.Size[d] - 1) * tensor.Stride[d]);
        }
        if (tensor.Offset < 0 || last >= tensor.Storage.ElementCount)
            throw new CheckpointFormatException($"{path}: tensor '{info.Name}' reaches past the end of its storage.");

        var contiguous = true;
        long expectedStride = 1;
        for (var d = rank - 1; d >= 0; d--)
        {
            if (tensor.Size[d] != 1 && tensor.Stride[d] != expectedStride)
                contiguous = false;
            expectedStride *= tensor.Size[d];
        }
        if (contiguous)
        {
            Array.Copy(storage, tensor.Offset * elementSize, output, 0, output.Length);
            return output;
        }

        var index = new long[rank];
        for (long i = 0; i < info.ElementCount; i++)
        {
            var source = tensor.Offset;
            for (var d = 0; d < rank; d++)
                source += index[d] * tensor.Stride[d];
            Array.Copy(storage, source * elementSize, output, i * elementSize, elementSize);
            for (var d = rank - 1; d >= 0; d--)
            {
                if (++index[d] < tensor.Size[d])
                    break;
                index[d] = 0;
            }
        }
        return output;
    }

    private static byte[] ReadEntry(ZipArchiveEntry entry, long limit, string path)
    {
        if (entry.Length > limit || entry.Length > Array.MaxLength)
            throw new CheckpointFormatException($"{path}: archive entry '{entry.FullName}' is {entry.Length} bytes, over the {limit}-byte limit.");
        var buffer = new byte[entry.Length];
        using var stream = entry.Open();
        var read = stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        if (read != buffer.Length)
            throw new CheckpointFormatException($"{path}: archive entry '{entry.FullName}' is truncated.");
        return buffer;
    }
}
