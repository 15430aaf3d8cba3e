using System.Text;
using System.Text.Json;
using Nuansa.Reporting;

namespace Nuansa.Cli;

/// <summary>The JSON Lines the commands read and write.</summary>
internal static class JsonLines
{
    /// <summary>Reads <c>{"text": ..., "text_pair": ...}</c> records; a malformed line fails with its number.</summary>
    public static List<(string Text, string? TextPair, int Line)> ReadTextRecords(TextReader reader, string source) =>
        [.. Inputs(TableReader.ReadJsonLines(reader, source), source, "text", null).Select(x => (x.Input.Text, x.Input.TextPair, x.Line))];

    /// <summary>The column holding a pair's context, which goes first: <c>[CLS] context [SEP] text [SEP]</c>.</summary>
    public const string ContextColumn = "context";

    /// <summary>
    /// Rows as model inputs: the text column, and for a pair either HF's second segment (the pair column:
    /// <c>[CLS] text [SEP] pair [SEP]</c>) or a <c>context</c> column, which goes first. Rows that name both are refused.
    /// </summary>
    public static List<(Inference.TextInput Input, int Line)> Inputs(IReadOnlyList<Data.DataRow> rows, string source, string textColumn, string? pairColumn)
    {
        Data.DataColumns.Require(rows, source, (textColumn, "text"));
        var pair = Data.DataColumns.Pair(rows, source, pairColumn);
        var context = Data.DataColumns.Of(rows).Contains(ContextColumn) && textColumn != ContextColumn ? ContextColumn : null;
        return [.. rows.Select(r =>
        {
            var text = r.Text(textColumn, source);
            var second = pair == null ? null : r.OptionalText(pair, source);
            var first = context == null ? null : r.OptionalText(context, source);
            if (first != null && second != null)
                throw new NuansaException($"{source}, line {r.Line}: both \"{pair}\" and \"{context}\"; give one (context comes first: [CLS] context [SEP] text [SEP]).");
            return (first != null ? Inference.TextInput.WithContext(first, text) : new Inference.TextInput(text, second), r.Line);
        })];
    }

    /// <summary>Opens --input (or standard input when absent).</summary>
    public static TextReader OpenInput(string? path, TextReader standardInput)
    {
        if (path == null || path == "-")
            return standardInput;
        if (!File.Exists(path))
            throw new NuansaException($"{path}: input file not found.");
        TableReader.CheckUtf8(path);
        return new StreamReader(path, Encoding.UTF8);
    }

    public static void WriteNumbers(Utf8JsonWriter json, string name, IEnumerable<int> values)
    {
        json.WriteStartArray(name);
        foreach (var v in values)
            json.WriteNumberValue(v);
        json.WriteEndArray();
    }

    /// <summary>Checks, before any work, that <see cref="WriteOutput"/> will be able to write <paramref name="path"/>.</summary>
    public static void CheckOutput(string? path)
    {
        if (path != null && path != "-")
            AtomicFile.CheckWritable(path);
    }

    /// <summary>Writes the whole output at once: to a file atomically, or to standard output.</summary>
    public static void WriteOutput(string? path, string content, TextWriter standardOutput)
    {
        if (path == null || path == "-")
            standardOutput.Write(content);
        else
            AtomicFile.WriteAllText(path, content);
    }
}
