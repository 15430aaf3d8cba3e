using System.Text.Json;

namespace Nuansa.Checkpoints;

/// <summary>
/// The named tensors of a checkpoint, from whichever weight files it has: <c>model.safetensors</c>
/// (memory-mapped), a sharded <c>model.safetensors.index.json</c>, or the legacy
/// <c>pytorch_model.bin</c> (and its index). Safetensors is preferred when both exist, as HF does.
/// </summary>
public sealed class WeightStore : IDisposable
{
    /// <summary>A single safetensors weight file.</summary>
    public const string SafetensorsName = "model.safetensors";

    /// <summary>The index of sharded safetensors weights.</summary>
    public const string SafetensorsIndexName = "model.safetensors.index.json";

    /// <summary>A single legacy PyTorch (pickle) weight file.</summary>
    public const string PytorchName = "pytorch_model.bin";

    /// <summary>The index of sharded PyTorch weights.</summary>
    public const string PytorchIndexName = "pytorch_model.bin.index.json";
    private const long MaxIndexBytes = 64 << 20;

    private readonly List<SafeTensorsFile> _files = [];
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly List<TensorInfo> _order = [];

    private WeightStore(string format)
    {
        Format = format;
    }

    /// <summary><c>safetensors</c> or <c>pytorch</c>.</summary>
    public string Format { get; }

    /// <summary>The weight files read, relative to the checkpoint folder.</summary>
    public IReadOnlyList<string> Files { get; private set; } = [];

    /// <summary>Every tensor, in file order.</summary>
    public IReadOnlyList<TensorInfo> Tensors => _order;

    /// <summary>Number of floating-point values (parameters), not counting integer buffers such as <c>position_ids</c>.</summary>
    public long ParameterCount => _order.Where(t => t.DType.IsFloatingPoint()).Sum(t => t.ElementCount);

    /// <summary>Whether the checkpoint stores a tensor of this name.</summary>
    public bool Contains(string name) => _entries.ContainsKey(name);

    /// <summary>Type and shape of the named tensor; throws <see cref="CheckpointFormatException"/> naming it when absent.</summary>
    public TensorInfo GetInfo(string name) => Find(name).Info;

    /// <summary>Opens the weights of a checkpoint folder, or one weight file given directly.</summary>
    public static WeightStore Open(string path)
    {
        if (File.Exists(path))
            return OpenFile(path, Path.GetFileName(path));
        if (!Directory.Exists(path))
            throw new CheckpointFormatException($"{path}: no such file or folder.");

        foreach (var name in new[] { SafetensorsName, SafetensorsIndexName, PytorchName, PytorchIndexName })
        {
            var candidate = Path.Combine(path, name);
            if (File.Exists(candidate))
                return OpenFile(candidate, name);
        }
        throw new CheckpointFormatException(
            $"{path}: no weights found; expected {SafetensorsName}, {SafetensorsIndexName}, {PytorchName} or {PytorchIndexName}.");
    }

    private static WeightStore OpenFile(string file, string name)
    {
        var isIndex = name.EndsWith(".index.json", StringComparison.Ordinal);
        var isPytorch = name.EndsWith(".bin", StringComparison.Ordinal) || name.EndsWith(".bin.index.json", StringComparison.Ordinal);
        var store = new WeightStore(isPytorch ? "pytorch" : "safetensors");
        try
        {
            if (isIndex)
                store.AddSharded(file);
            else
                store.AddFile(file, null);
            store.Files = isIndex ? store.Files : [name];
            return store;
        }
        catch
        {
            store.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Adds (or replaces) a float32 tensor held in memory: the newly initialized classification head of a base
    /// checkpoint being fine-tuned, as HF's <c>from_pretrained</c> adds the weights a checkpoint lacks.
    /// </summary>
    public void Put(string name, long[] shape, float[] values)
    {
        var info = new TensorInfo(name, DType.F32, shape);
        if (info.ElementCount != values.Length)
            throw new ArgumentException($"Tensor '{name}': {values.Length} values do not fill [{string.Join(", ", shape)}].");
        var bytes = new byte[values.Length * 4];
        Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
        if (_entries.ContainsKey(name))
            _order.RemoveAll(t => t.Name == name);
        _entries[name] = new Entry(info, null, bytes);
        _order.Add(info);
    }

    /// <summary>The raw little-endian bytes of a tensor; for mapped files valid until the store is disposed.</summary>
    public ReadOnlySpan<byte> GetBytes(string name)
    {
        var entry = Find(name);
        return entry.File != null ? entry.File.GetBytes(name) : entry.Data;
    }

    /// <summary>A floating-point tensor (F32, F16 or BF16) widened to float32 exactly.</summary>
    public float[] GetSingle(string name)
    {
        var info = GetInfo(name);
        if (!info.DType.IsFloatingPoint())
            throw new CheckpointFormatException($"Tensor '{name}' is {info.DType.Name()}; weights must be F32, F16 or BF16.");
        var values = new float[info.ElementCount];
        DTypes.ToSingle(info.DType, GetBytes(name), values);
        return values;
    }

    /// <summary>An integer tensor as int64.</summary>
    public long[] GetInt64(string name)
    {
        var info = GetInfo(name);
        var values = new long[info.ElementCount];
        DTypes.ToInt64(info.DType, GetBytes(name), values);
        return values;
    }

    /// <summary>Releases the mapped weight files.</summary>
    public void Dispose()
    {
        foreach (var file in _files)
            file.Dispose();
        _files.Clear();
    }

    private Entry Find(string name) =>
        _entries.TryGetValue(name, out var entry)
            ? entry
            : throw new CheckpointFormatException($"The checkpoint has no tensor named '{name}'.");

    // Adds every tensor of one weight file; with `expected`, only the names the index assigns to it (all of them must be there).
    private void AddFile(string file, ISet<string>? expected)
    {
        if (file.EndsWith(".bin", StringComparison.Ordinal))
        {
            foreach (var (info, data) in TorchCheckpoint.Load(file))
            {
                if (expected == null || expected.Contains(info.Name))
                    Add(file, new Entry(info, null, data));
            }
        }
        else
        {
            var st = SafeTensorsFile.Open(file);
            _files.Add(st);
            foreach (var info in st.Tensors)
            {
                if (expected == null || expected.Contains(info.Name))
                    Add(file, new Entry(info, st, null));
            }
        }
        if (expected != null)
        {
            var missing = expected.FirstOrDefault(n => !_entries.ContainsKey(n));
            if (missing != null)
                throw new CheckpointFormatException($"{file}: the index places tensor '{missing}' in this shard, but the shard does not hold it.");
        }
    }

    private void Add(string file, Entry entry)
    {
        if (!_entries.TryAdd(entry.Info.Name, entry))
            throw new CheckpointFormatException($"{file}: tensor '{entry.Info.Name}' is stored twice in this checkpoint.");
        _order.Add(entry.Info);
    }

    private void AddSharded(string indexFile)
    {
        var length = new FileInfo(indexFile).Length;
        if (length > MaxIndexBytes)
            throw new CheckpointFormatException($"{indexFile}: {length} bytes is too large for a shard index.");
        var shards = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(indexFile));
            if (document.RootElement.ValueKind != JsonValueKind.Object
                || !document.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
            {
                throw new CheckpointFormatException($"{indexFile}: no \"weight_map\" object.");
            }
            foreach (var entry in map.EnumerateObject())
            {
                if (entry.Value.ValueKind != JsonValueKind.String)
                    throw new CheckpointFormatException($"{indexFile}: weight_map[\"{entry.Name}\"] is not a file name.");
                var shard = entry.Value.GetString()!;
                if (shard.Length == 0 || shard != Path.GetFileName(shard) || shard is "." or ".." || shard.Contains('\\'))
                    throw new CheckpointFormatException($"{indexFile}: shard \"{shard}\" must be a plain file name in the checkpoint folder.");
                if (!shards.TryGetValue(shard, out var names))
                    shards[shard] = names = new HashSet<string>(StringComparer.Ordinal);
                if (!names.Add(entry.Name))
                    throw new CheckpointFormatException($"{indexFile}: weight_map lists '{entry.Name}' twice.");
            }
        }
        catch (JsonException e)
        {
            throw new CheckpointFormatException($"{indexFile}: not valid JSON: {e.Message}", e);
        }
        if (shards.Count == 0)
            throw new CheckpointFormatException($"{indexFile}: the weight_map is empty.");

        var folder = Path.GetDirectoryName(Path.GetFullPath(indexFile))!;
        var pytorch = indexFile.EndsWith(".bin.index.json", StringComparison.Ordinal);
        foreach (var (shard, names) in shards.OrderBy(s => s.Key, StringComparer.Ordinal))
        {
            if (shard.EndsWith(".bin", StringComparison.Ordinal) != pytorch)
                throw new CheckpointFormatException($"{indexFile}: shard \"{shard}\" is not of the index's format.");
            var file = Path.Combine(folder, shard);
            if (!File.Exists(file))
                throw new CheckpointFormatException($"{indexFile}: shard \"{shard}\" is missing from the folder.");
            AddFile(file, names);
        }
        Files = shards.Keys.Order(StringComparer.Ordinal).Prepend(Path.GetFileName(indexFile)).ToArray();
    }

    private sealed record Entry(TensorInfo Info, SafeTensorsFile? File, byte[]? Data);
}
