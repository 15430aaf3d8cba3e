using System.Text.Json;

namespace Nuansa.Cli;

/// <summary>Reading the JSON Lines inputs the commands take: one object per line, blank lines skipped.</summary>
internal static class JsonLines
{
    /// <summary>Upper bound on one line; a text classifier input is far smaller.</summary>
    public const int MaxLineChars = 16 << 20;

    /// <summary>Reads <c>{"text": ..., "text_pair": ...}</c> records; a malformed line fails with its number.</summary>
    public static List<(string Text, string? TextPair, int Line)> ReadTextRecords(TextReader reader, string source)
    {
        var records = new List<(string, string?, int)>();
        var number = 0;
        while (reader.ReadLine() is { } line)
        {
            number++;
            if (string.IsNullOrWhiteSpace(line))
                continue;
            if (line.Length > MaxLineChars)
                throw new NuansaException($"{source}, line {number}: longer than {MaxLineChars} characters.");
            try
            {
                using var document = JsonDocument.Parse(line);
                var root = document.RootElement;
                if (root.ValueKind != JsonValueKind.Object)
                    throw new NuansaException($"{source}, line {number}: expected a JSON object such as {{\"text\": \"...\"}}.");
                if (!root.TryGetProperty("text", out var text) || text.ValueKind != JsonValueKind.String)
                    throw new NuansaException($"{source}, line {number}: \"text\" is missing or not a string.");
                string? pair = null;
                if (root.TryGetProperty("text_pair", out var p) && p.ValueKind != JsonValueKind.Null)
                {
                    pair = p.ValueKind == JsonValueKind.String ? p.GetString()
                        : throw new NuansaException($"{source}, line {number}: \"text_pair\" must be a string or null.");
                }
                records.Add((text.GetString()!, pair, number));
            }
            catch (JsonException e)
            {
                throw new NuansaException($"{source}, line {number}: not valid JSON ({e.Message}).");
            }
        }
        return records;
    }

    /// <summary>Opens --input (or standard input when absent).</summary>
    public static TextReader OpenInput(string? path, TextReader standardInput)
    {
        if (path == null || path == "-")
            return standardInput;
        if (!File.Exists(path))
            throw new NuansaException($"{path}: input file not found.");
        return new StreamReader(path, System.Text.Encoding.UTF8);
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
