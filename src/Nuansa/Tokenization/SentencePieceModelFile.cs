namespace Nuansa.Tokenization;

/// <summary>
/// The parts of a SentencePiece <c>.model</c> file (a <c>ModelProto</c> protobuf) that HF's converters use:
/// the pieces with scores and types, the model type, and the normalizer's precompiled character map.
/// Read with a bounds-checked protobuf reader; unknown fields are skipped.
/// </summary>
internal sealed class SentencePieceModelFile
{
    public const long MaxBytes = 256L << 20;

    public List<(string Piece, float Score, int Type)> Pieces { get; } = [];

    /// <summary>1 unigram, 2 BPE, 3 word, 4 char (SentencePiece's <c>ModelType</c>).</summary>
    public int ModelType { get; private set; } = 1;
    public byte[]? PrecompiledCharsmap { get; private set; }

    public static SentencePieceModelFile Read(string path)
    {
        var length = new FileInfo(path).Length;
        if (length > MaxBytes)
            throw new TokenizerFormatException($"{path}: {length} bytes is too large for a SentencePiece model.");
        var model = new SentencePieceModelFile();
        try
        {
            var reader = new ProtoReader(File.ReadAllBytes(path));
            while (reader.Next(out var field, out var wire))
            {
                switch (field, wire)
                {
                    case (1, 2): model.Pieces.Add(ReadPiece(reader.Message())); break;
                    case (2, 2): model.ModelType = ReadModelType(reader.Message()); break;
                    case (3, 2): model.PrecompiledCharsmap = ReadCharsmap(reader.Message()); break;
                    default: reader.Skip(wire); break;
                }
            }
        }
        catch (FormatException e)
        {
            throw new TokenizerFormatException($"{path}: not a valid SentencePiece model: {e.Message}");
        }
        if (model.Pieces.Count < 4)
            throw new TokenizerFormatException($"{path}: the SentencePiece model has only {model.Pieces.Count} pieces.");
        return model;
    }

    private static (string, float, int) ReadPiece(ProtoReader reader)
    {
        string piece = "";
        float score = 0;
        var type = 1;
        while (reader.Next(out var field, out var wire))
        {
            switch (field, wire)
            {
                case (1, 2): piece = System.Text.Encoding.UTF8.GetString(reader.Bytes()); break;
                case (2, 5): score = reader.Float(); break;
                case (3, 0): type = (int)reader.Varint(); break;
                default: reader.Skip(wire); break;
            }
        }
        return (piece, score, type);
    }

    private static int ReadModelType(ProtoReader reader)
    {
        var type = 1;
        while (reader.Next(out var field, out var wire))
        {
            if (field == 3 && wire == 0)
                type = (int)reader.Varint();
            else
                reader.Skip(wire);
        }
        return type;
    }

    private static byte[]? ReadCharsmap(ProtoReader reader)
    {
        byte[]? charsmap = null;
        while (reader.Next(out var field, out var wire))
        {
            if (field == 2 && wire == 2)
                charsmap = reader.Bytes();
            else
                reader.Skip(wire);
        }
        return charsmap;
    }

    /// <summary>A minimal protobuf wire-format reader over a byte range.</summary>
    private sealed class ProtoReader(byte[] data, int start, int end)
    {
        private int _position = start;

        public ProtoReader(byte[] data) : this(data, 0, data.Length) { }

        public bool Next(out int field, out int wire)
        {
            field = wire = 0;
            if (_position >= end)
                return false;
            var key = Varint();
            field = (int)(key >> 3);
            wire = (int)(key & 7);
            return true;
        }

        public ulong Varint()
        {
            ulong value = 0;
            for (var shift = 0; shift < 64; shift += 7)
            {
                if (_position >= end)
                    throw new FormatException("a varint runs past the end.");
                var b = data[_position++];
                value |= (ulong)(b & 0x7F) << shift;
                if ((b & 0x80) == 0)
                    return value;
            }
            throw new FormatException("a varint is longer than 10 bytes.");
        }

        public float Float()
        {
            Need(4);
            var value = BitConverter.ToSingle(data, _position);
            _position += 4;
            return value;
        }

        public byte[] Bytes()
        {
            var length = Length();
            var bytes = data[_position..(_position + length)];
            _position += length;
            return bytes;
        }

        public ProtoReader Message()
        {
            var length = Length();
            var message = new ProtoReader(data, _position, _position + length);
            _position += length;
            return message;
        }

        public void Skip(int wire)
        {
            switch (wire)
            {
                case 0: Varint(); break;
                case 1: Need(8); _position += 8; break;
                case 2:
                {
                    var length = Length(); // read first: `_position += Length()` would add to the position before the length's varint
                    _position += length;
                    break;
                }
                case 5: Need(4); _position += 4; break;
                default: throw new FormatException($"unknown wire type {wire}.");
            }
        }

        private int Length()
        {
            var length = Varint();
            if (length > (ulong)(end - _position))
                throw new FormatException("a field runs past the end of its message.");
            return (int)length;
        }

        private void Need(int count)
        {
            if (end - _position < count)
                throw new FormatException("a field runs past the end of its message.");
        }
    }
}
