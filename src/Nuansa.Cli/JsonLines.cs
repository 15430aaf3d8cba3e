using System.Text;
using System.Text.Json;
using Nuansa.Reporting;

namespace Nuansa.Cli;

/// <summary>The JSON Lines the commands read and write.</summary>
internal static class JsonLines
{
    /// <summary>Reads <c>{"text": ..., "text_pair": ...}</c> (or <c>"context"</c>) records; a malformed line fails with its number.</summary>
    public static List<(string Text, string? TextPair, int Line)> ReadTextRecords(TextReader reader, string source)
    {
        var rows = TableReader.ReadJsonLines(reader, source);
        return [.. Inference.TableInputs.Read(rows, source, "text", null).Select((input, i) => (input.Text, input.TextPair, rows[i].Line))];
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
