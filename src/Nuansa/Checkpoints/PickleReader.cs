using System.Buffers.Binary;
using System.Numerics;
using System.Text;

namespace Nuansa.Checkpoints;

/// <summary>A Python tuple read from a pickle.</summary>
internal sealed record PickleTuple(object?[] Items);

/// <summary>A Python dict (or OrderedDict) read from a pickle, keeping insertion order.</summary>
internal sealed class PickleDict
{
    public List<KeyValuePair<object?, object?>> Items { get; } = [];
}

/// <summary>An allow-listed global (<c>module.name</c>) named by a pickle.</summary>
internal sealed record PickleGlobal(string Module, string Name)
{
    public string FullName => $"{Module}.{Name}";
}

/// <summary>A tensor as <c>torch._utils._rebuild_tensor_v2</c> describes it: a view into a storage.</summary>
internal sealed record TorchTensorRef(TorchStorageRef Storage, long Offset, long[] Size, long[] Stride);

/// <summary>A storage named by a persistent id: <c>('storage', torch.FloatStorage, key, location, numel)</c>.</summary>
internal sealed record TorchStorageRef(string Key, DType DType, long ElementCount);

/// <summary>
/// A pickle reader that interprets only the opcodes and globals a PyTorch state dict needs.
/// It never imports or calls anything: a global outside the allow-list stops the read with
/// <see cref="UnsafePickleException"/> the moment it is named.
/// </summary>
internal sealed class PickleReader
{
    private const int MaxStackItems = 10_000_000;
    private const int MaxMemoItems = 10_000_000;
    private const int MaxIntBytes = 64;

    /// <summary>Storage classes and the dtype of their elements.</summary>
    internal static readonly IReadOnlyDictionary<string, DType> StorageTypes = new Dictionary<string, DType>
    {
        ["FloatStorage"] = DType.F32,
        ["HalfStorage"] = DType.F16,
        ["BFloat16Storage"] = DType.BF16,
        ["DoubleStorage"] = DType.F64,
        ["LongStorage"] = DType.I64,
        ["IntStorage"] = DType.I32,
        ["ShortStorage"] = DType.I16,
        ["CharStorage"] = DType.I8,
        ["ByteStorage"] = DType.U8,
        ["BoolStorage"] = DType.Bool,
    };

    private static readonly HashSet<string> Callables =
    [
        "collections.OrderedDict",
        "torch._utils._rebuild_tensor",
        "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_parameter",
    ];

    private readonly byte[] _data;
    private readonly string _file;
    private readonly List<object?> _stack = [];
    private readonly Stack<int> _marks = new();
    private readonly Dictionary<long, object?> _memo = [];
    private int _position;

    private PickleReader(byte[] data, string file)
    {
        _data = data;
        _file = file;
    }

    /// <summary>Reads one pickled object from <paramref name="data"/>.</summary>
    public static object? Load(byte[] data, string file) => new PickleReader(data, file).Run();

    private object? Run()
    {
        while (true)
        {
            var opcode = (char)ReadByte();
            switch (opcode)
            {
                case '\x80': ReadByte(); break; // PROTO n
                case '\x95': Take(8); break; // FRAME length: frames are only a buffering hint
                case '.': // STOP
                    if (_stack.Count != 1)
                        throw Bad($"the pickle stopped with {_stack.Count} values on its stack.");
                    return _stack[0];
                case '(': _marks.Push(_stack.Count); break; // MARK
                case '0': Pop(); break; // POP
                case '1': PopMark(); break; // POP_MARK
                case '2': Push(Peek()); break; // DUP
                case 'N': Push(null); break;
                case '\x88': Push(true); break;
                case '\x89': Push(false); break;
                case 'J': Push((long)BinaryPrimitives.ReadInt32LittleEndian(Take(4))); break; // BININT
                case 'K': Push((long)ReadByte()); break; // BININT1
                case 'M': Push((long)BinaryPrimitives.ReadUInt16LittleEndian(Take(2))); break; // BININT2
                case '\x8a': Push(ReadLong(ReadByte())); break; // LONG1
                case '\x8b': Push(ReadLong(ReadLength(4))); break; // LONG4
                case 'G': Push(BinaryPrimitives.ReadDoubleBigEndian(Take(8))); break; // BINFLOAT
                case 'X': Push(ReadUtf8(ReadLength(4))); break; // BINUNICODE
                case '\x8c': Push(ReadUtf8(ReadByte())); break; // SHORT_BINUNICODE
                case '\x8d': Push(ReadUtf8(ReadLength(8))); break; // BINUNICODE8
                case 'C': Push(Take(ReadByte()).ToArray()); break; // SHORT_BINBYTES
                case 'B': Push(Take(ReadLength(4)).ToArray()); break; // BINBYTES
                case ']': Push(new List<object?>()); break; // EMPTY_LIST
                case 'l': Push(PopMark().ToList()); break; // LIST
                case 'a': AsList(Peek(1)).Add(Pop()); break; // APPEND
                case 'e': // APPENDS
                {
                    var items = PopMark();
                    AsList(Peek()).AddRange(items);
                    break;
                }
                case ')': Push(new PickleTuple([])); break; // EMPTY_TUPLE
                case 't': Push(new PickleTuple(PopMark())); break; // TUPLE
                case '\x85': Push(new PickleTuple([Pop()])); break; // TUPLE1
                case '\x86': // TUPLE2
                {
                    var b = Pop();
                    var a = Pop();
                    Push(new PickleTuple([a, b]));
                    break;
                }
                case '\x87': // TUPLE3
                {
                    var c = Pop();
                    var b = Pop();
                    var a = Pop();
                    Push(new PickleTuple([a, b, c]));
                    break;
                }
                case '}': Push(new PickleDict()); break; // EMPTY_DICT
                case 'd': // DICT
                {
                    var dict = new PickleDict();
                    AddPairs(dict, PopMark());
                    Push(dict);
                    break;
                }
                case 's': // SETITEM
                {
                    var value = Pop();
                    var key = Pop();
                    AsDict(Peek()).Items.Add(new(key, value));
                    break;
                }
                case 'u': // SETITEMS
                {
                    var items = PopMark();
                    AddPairs(AsDict(Peek()), items);
                    break;
                }
                case 'c': Push(Global(ReadLine(), ReadLine())); break; // GLOBAL
                case '\x93': // STACK_GLOBAL
                {
                    var name = Pop() as string ?? throw Bad("STACK_GLOBAL needs two strings.");
                    var module = Pop() as string ?? throw Bad("STACK_GLOBAL needs two strings.");
                    Push(Global(module, name));
                    break;
                }
                case 'R': // REDUCE
                {
                    var args = Pop() as PickleTuple ?? throw Bad("REDUCE needs an argument tuple.");
                    var callable = Pop() as PickleGlobal ?? throw Bad("REDUCE needs a callable.");
                    Push(Call(callable, args.Items));
                    break;
                }
                case 'b': // BUILD: only the attribute state of an OrderedDict (its _metadata) is expected; it is dropped.
                {
                    Pop();
                    if (Peek() is not PickleDict)
                        throw Bad("BUILD is only accepted on a dict.");
                    break;
                }
                case 'Q': // BINPERSID
                    Push(Persistent(Pop()));
                    break;
                case 'q': Memo(ReadByte()); break; // BINPUT
                case 'r': Memo(BinaryPrimitives.ReadUInt32LittleEndian(Take(4))); break; // LONG_BINPUT
                case '\x94': Memo(_memo.Count); break; // MEMOIZE
                case 'h': Push(Recall(ReadByte())); break; // BINGET
                case 'j': Push(Recall(BinaryPrimitives.ReadUInt32LittleEndian(Take(4)))); break; // LONG_BINGET
                default:
                    throw Bad($"unsupported pickle opcode 0x{(int)opcode:x2} at byte {_position - 1}; a PyTorch state dict does not need it.");
            }
        }
    }

    private PickleGlobal Global(string module, string name)
    {
        var global = new PickleGlobal(module, name);
        if (Callables.Contains(global.FullName) || (module == "torch" && StorageTypes.ContainsKey(name)))
            return global;
        throw new UnsafePickleException(global.FullName, _file);
    }

    private object? Call(PickleGlobal callable, object?[] args)
    {
        switch (callable.FullName)
        {
            case "collections.OrderedDict":
                if (args.Length != 0)
                    throw Bad("OrderedDict is only accepted without arguments.");
                return new PickleDict();
            case "torch._utils._rebuild_tensor":
            case "torch._utils._rebuild_tensor_v2":
            {
                if (args.Length < 4)
                    throw Bad($"{callable.Name} needs (storage, offset, size, stride).");
                var storage = args[0] as TorchStorageRef ?? throw Bad($"{callable.Name}: the first argument is not a storage.");
                var offset = args[1] as long? ?? throw Bad($"{callable.Name}: the storage offset is not an integer.");
                return new TorchTensorRef(storage, offset, Longs(args[2], "size"), Longs(args[3], "stride"));
            }
            case "torch._utils._rebuild_parameter":
                if (args.Length < 1 || args[0] is not TorchTensorRef)
                    throw Bad("_rebuild_parameter needs a tensor.");
                return args[0];
            default:
                throw Bad($"'{callable.FullName}' cannot be called here.");
        }
    }

    private TorchStorageRef Persistent(object? pid)
    {
        if (pid is not PickleTuple { Items: ["storage", PickleGlobal type, string key, _, long count] }
            || type.Module != "torch" || !StorageTypes.TryGetValue(type.Name, out var dtype))
        {
            throw Bad("a persistent id is not of the form ('storage', torch.XStorage, key, location, numel).");
        }
        if (count < 0)
            throw Bad($"storage '{key}' has a negative size.");
        return new TorchStorageRef(key, dtype, count);
    }

    private long[] Longs(object? value, string what)
    {
        if (value is not PickleTuple tuple)
            throw Bad($"the tensor {what} is not a tuple.");
        var result = new long[tuple.Items.Length];
        for (var i = 0; i < result.Length; i++)
            result[i] = tuple.Items[i] as long? ?? throw Bad($"the tensor {what} holds a non-integer.");
        return result;
    }

    private void AddPairs(PickleDict dict, object?[] items)
    {
        if (items.Length % 2 != 0)
            throw Bad("a dict was given an odd number of items.");
        for (var i = 0; i < items.Length; i += 2)
            dict.Items.Add(new(items[i], items[i + 1]));
    }

    private List<object?> AsList(object? value) => value as List<object?> ?? throw Bad("APPEND on something that is not a list.");

    private PickleDict AsDict(object? value) => value as PickleDict ?? throw Bad("SETITEM on something that is not a dict.");

    private void Memo(long index)
    {
        if (_stack.Count == 0)
            throw Bad("memo write with an empty stack.");
        if (_memo.Count >= MaxMemoItems && !_memo.ContainsKey(index))
            throw Bad("the memo grows past its limit.");
        _memo[index] = _stack[^1];
    }

    private object? Recall(long index) =>
        _memo.TryGetValue(index, out var value) ? value : throw Bad($"memo entry {index} is read before it is written.");

    private void Push(object? value)
    {
        if (_stack.Count >= MaxStackItems)
            throw Bad("the stack grows past its limit.");
        _stack.Add(value);
    }

    private object? Pop()
    {
        var floor = _marks.Count > 0 ? _marks.Peek() : 0;
        if (_stack.Count <= floor)
            throw Bad("stack underflow.");
        var value = _stack[^1];
        _stack.RemoveAt(_stack.Count - 1);
        return value;
    }

    private object? Peek(int depth = 0)
    {
        var floor = _marks.Count > 0 ? _marks.Peek() : 0;
        if (_stack.Count - depth <= floor)
            throw Bad("stack underflow.");
        return _stack[^(depth + 1)];
    }

    private object?[] PopMark()
    {
        if (_marks.Count == 0)
            throw Bad("MARK expected.");
        var mark = _marks.Pop();
        var items = _stack.GetRange(mark, _stack.Count - mark).ToArray();
        _stack.RemoveRange(mark, _stack.Count - mark);
        return items;
    }

    private byte ReadByte()
    {
        if (_position >= _data.Length)
            throw Bad("the pickle ends without STOP.");
        return _data[_position++];
    }

    private ReadOnlySpan<byte> Take(long count)
    {
        if (count < 0 || count > _data.Length - _position)
            throw Bad($"a {count}-byte field runs past the end of the pickle.");
        var span = _data.AsSpan(_position, (int)count);
        _position += (int)count;
        return span;
    }

    private long ReadLength(int bytes)
    {
        var span = Take(bytes);
        var length = bytes == 4 ? BinaryPrimitives.ReadUInt32LittleEndian(span) : BinaryPrimitives.ReadUInt64LittleEndian(span);
        if (length > (ulong)(_data.Length - _position))
            throw Bad($"a {length}-byte field runs past the end of the pickle.");
        return (long)length;
    }

    private object ReadLong(long byteCount)
    {
        if (byteCount > MaxIntBytes)
            throw Bad($"a {byteCount}-byte integer is larger than any tensor index.");
        var value = new BigInteger(Take(byteCount), isUnsigned: false, isBigEndian: false);
        return value >= long.MinValue && value <= long.MaxValue ? (long)value : value;
    }

    private string ReadUtf8(long byteCount)
    {
        try
        {
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(Take(byteCount));
        }
        catch (DecoderFallbackException)
        {
            throw Bad("a string is not valid UTF-8.");
        }
    }

    private string ReadLine()
    {
        var end = Array.IndexOf(_data, (byte)'\n', _position);
        if (end < 0 || end - _position > 1024)
            throw Bad("a GLOBAL name is not terminated.");
        var text = Encoding.ASCII.GetString(_data, _position, end - _position);
        _position = end + 1;
        return text;
    }

    private CheckpointFormatException Bad(string what) => new($"{_file}: unreadable pickle: {what}");
}
