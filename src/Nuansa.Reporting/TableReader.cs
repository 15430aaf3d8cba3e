using System.Globalization;
using System.Text.Json;
using CsvHelper;
using CsvHelper.Configuration;

using Nuansa.Data;

namespace Nuansa.Reporting;

/// <summary>
/// Reads labelled or unlabelled text data: CSV (RFC 4180, with CsvHelper), TSV (split on tabs, no quoting, as
/// GLUE and IndoNLU files are), or JSON Lines. The format comes from the extension (.csv, .tsv, .jsonl/.json).
/// Every row is checked against the header; errors give the line number.
/// </summary>
public static class TableReader
{
    /// <summary>Upper bound on one field or line.</summary>
    public const int MaxFieldChars = 16 << 20;

    /// <summary>A data file's rows, for <see cref="Training.Trainer"/>: its path names it in messages.</summary>
    public static TrainingData ReadData(string path) => new(path, Read(path));

    /// <summary>A data file's rows, its format by extension; the file must be UTF-8 and every row fit the header.</summary>
    public static IReadOnlyList<DataRow> Read(string path)
    {
        if (!File.Exists(path))
            throw new NuansaException($"{path}: data file not found.");
        var extension = System.IO.Path.GetExtension(path).ToLowerInvariant();
        CheckUtf8(path);
        using var reader = new StreamReader(path, System.Text.Encoding.UTF8);
        return extension switch
        {
            ".csv" => ReadCsv(reader, path),
            ".tsv" or ".txt" => ReadTsv(reader, path),
            ".jsonl" or ".json" or ".ndjson" => ReadJsonLines(reader, path),
            _ => throw new NuansaException($"{path}: unknown data format \"{extension}\"; use .csv, .tsv or .jsonl."),
        };
    }

    /// <summary>
    /// Fails, naming the line, unless the whole file is UTF-8: a Latin-1 or UTF-16 file read as UTF-8 would silently
    /// lose characters (Latin-1 "café" would become "caf\uFFFD"). One pass in 64 KB blocks.
    /// </summary>
    public static void CheckUtf8(string path)
    {
        const int block = 1 << 16;
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1);
        var bytes = new byte[block + 4];
        var chars = new char[block + 4];
        var carried = 0;
        var line = 1L;
        while (true)
        {
            var read = file.Read(bytes, carried, block);
            var length = carried + read;
            var status = System.Text.Unicode.Utf8.ToUtf16(bytes.AsSpan(0, length), chars, out var used, out _, replaceInvalidSequences: false, isFinalBlock: read == 0);
            line += bytes.AsSpan(0, used).Count((byte)'\n');
            if (status == System.Buffers.OperationStatus.InvalidData)
                throw new NuansaException($"{path}, line {line}: the file is not valid UTF-8 (bytes 0x{string.Join(" 0x", bytes.Skip(used).Take(Math.Min(4, length - used)).Select(b => b.ToString("X2", CultureInfo.InvariantCulture)))}); save it as UTF-8.");
            if (read == 0)
                return;
            carried = length - used;
            bytes.AsSpan(used, carried).CopyTo(bytes);
        }
    }

    /// <summary>JSON Lines: one object per line, blank lines skipped; <paramref name="source"/> names the input in messages.</summary>
    public static IReadOnlyList<DataRow> ReadJsonLines(TextReader reader, string source)
    {
        var rows = new List<DataRow>();
        var number = 0;
        while (ReadLine(reader, source, number + 1) is { } line)
        {
            number++;
            if (string.IsNullOrWhiteSpace(line))
                continue;
            try
            {
                using var document = JsonDocument.Parse(line);
                if (document.RootElement.ValueKind != JsonValueKind.Object)
                    throw new NuansaException($"{source}, line {number}: expected a JSON object.");
                var fields = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
                foreach (var p in document.RootElement.EnumerateObject())
                    fields[p.Name] = p.Value.Clone();
                rows.Add(new DataRow(number, fields));
            }
            catch (JsonException e)
            {
                // Plain text where JSON Lines are expected is the usual mistake: say what a line should look like.
                throw new NuansaException(line.TrimStart().StartsWith('{')
                    ? $"{source}, line {number}: not valid JSON ({e.Message})."
                    : $"{source}, line {number}: expected one JSON object per line, such as {{\"text\": \"...\"}}, not plain text.");
            }
        }
        return rows;
    }

    private static List<DataRow> ReadTsv(TextReader reader, string source)
    {
        var header = ReadLine(reader, source, 1) ?? throw new NuansaException($"{source}: the file is empty; a header line is expected.");
        var columns = Header(header.Split('\t'), source);
        var rows = new List<DataRow>();
        var number = 1;
        while (ReadLine(reader, source, number + 1) is { } line)
        {
            number++;
            if (line.Length == 0)
                continue;
            var values = line.Split('\t');
            rows.Add(Row(columns, values, number, source));
        }
        return rows;
    }

    private static List<DataRow> ReadCsv(TextReader reader, string source)
    {
        var configuration = new CsvConfiguration(CultureInfo.InvariantCulture)
        {
            DetectDelimiter = false,
            MaxFieldSize = MaxFieldChars,
            BadDataFound = context => throw new NuansaException($"{source}, line {context.Context.Parser?.RawRow}: malformed CSV field.")
        };
        using var csv = new CsvParser(reader, configuration);
        if (!csv.Read())
            throw new NuansaException($"{source}: the file is empty; a header line is expected.");
        var columns = Header(csv.Record!, source);
        var rows = new List<DataRow>();
        while (csv.Read())
        {
            var record = csv.Record!;
            if (record.Length == 1 && record[0].Length == 0)
                continue;
            rows.Add(Row(columns, record, csv.RawRow, source));
        }
        return rows;
    }

    /// <summary>
    /// One line (without its \n or \r\n), or null at the end; a line longer than <see cref="MaxFieldChars"/> is refused
    /// as soon as it passes the limit, before the rest of it is read (a 1 GB line must not be read into memory first).
    /// </summary>
    private static string? ReadLine(TextReader reader, string source, int number)
    {
        var line = new System.Text.StringBuilder();
        int c;
        while ((c = reader.Read()) >= 0)
        {
            if (c == '\n')
                return line.Length > 0 && line[^1] == '\r' ? line.ToString(0, line.Length - 1) : line.ToString();
            if (line.Length >= MaxFieldChars + 1)
                throw new NuansaException($"{source}, line {number}: longer than {MaxFieldChars} characters, the limit of one line; nothing was read past it.");
            line.Append((char)c);
        }
        return line.Length > 0 ? line.ToString() : null;
    }

    private static string[] Header(string[] names, string source)
    {
        var duplicate = names.GroupBy(n => n).FirstOrDefault(g => g.Count() > 1);
        if (duplicate != null)
            throw new NuansaException($"{source}: the header names column \"{duplicate.Key}\" twice.");
        return names;
    }

    private static DataRow Row(string[] columns, string[] values, int line, string source)
    {
        if (values.Length != columns.Length)
            throw new NuansaException($"{source}, line {line}: {values.Length} fields, but the header has {columns.Length}.");
        var fields = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        for (var i = 0; i < columns.Length; i++)
        {
            if (values[i].Length > MaxFieldChars)
                throw new NuansaException($"{source}, line {line}: field \"{columns[i]}\" is longer than {MaxFieldChars} characters.");
            fields[columns[i]] = JsonSerializer.SerializeToElement(values[i]);
        }
        return new DataRow(line, fields);
    }
}
