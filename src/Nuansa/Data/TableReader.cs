using System.Globalization;
using System.Text.Json;
using CsvHelper;
using CsvHelper.Configuration;

namespace Nuansa.Data;

/// <summary>A row of a data file: its 1-based line number and its fields by column name (JSON values as text).</summary>
public sealed record DataRow(int Line, IReadOnlyDictionary<string, JsonElement> Fields)
{
    /// <summary>A field as a string; a missing column or a non-string value is an error naming the line.</summary>
    public string Text(string column, string source) =>
        Fields.TryGetValue(column, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()!
        : throw new NuansaException(Fields.ContainsKey(column)
            ? $"{source}, line {Line}: column \"{column}\" is not text."
            : $"{source}, line {Line}: no column \"{column}\" (columns: {string.Join(", ", Fields.Keys)}).");

    /// <summary>An optional string field (absent or null gives null).</summary>
    public string? OptionalText(string column, string source) =>
        !Fields.TryGetValue(column, out var v) || v.ValueKind == JsonValueKind.Null ? null : Text(column, source);
}

/// <summary>
/// Reads labelled or unlabelled text data: CSV (RFC 4180, with CsvHelper), TSV (split on tabs, no quoting, as
/// GLUE and IndoNLU files are), or JSON Lines. The format comes from the extension (.csv, .tsv, .jsonl/.json).
/// Every row is checked against the header; errors give the line number.
/// </summary>
public static class TableReader
{
    /// <summary>Upper bound on one field or line.</summary>
    public const int MaxFieldChars = 16 << 20;

    public static IReadOnlyList<DataRow> Read(string path)
    {
        if (!File.Exists(path))
            throw new NuansaException($"{path}: data file not found.");
        var extension = System.IO.Path.GetExtension(path).ToLowerInvariant();
        using var reader = new StreamReader(path, System.Text.Encoding.UTF8);
        return extension switch
        {
            ".csv" => ReadCsv(reader, path),
            ".tsv" or ".txt" => ReadTsv(reader, path),
            ".jsonl" or ".json" or ".ndjson" => ReadJsonLines(reader, path),
            _ => throw new NuansaException($"{path}: unknown data format \"{extension}\"; use .csv, .tsv or .jsonl."),
        };
    }

    public static IReadOnlyList<DataRow> ReadJsonLines(TextReader reader, string source)
    {
        var rows = new List<DataRow>();
        var number = 0;
        while (reader.ReadLine() is { } line)
        {
            number++;
            if (string.IsNullOrWhiteSpace(line))
                continue;
            if (line.Length > MaxFieldChars)
                throw new NuansaException($"{source}, line {number}: longer than {MaxFieldChars} characters.");
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
                throw new NuansaException($"{source}, line {number}: not valid JSON ({e.Message}).");
            }
        }
        return rows;
    }

    private static List<DataRow> ReadTsv(TextReader reader, string source)
    {
        var header = reader.ReadLine() ?? throw new NuansaException($"{source}: the file is empty; a header line is expected.");
        var columns = Header(header.Split('\t'), source);
        var rows = new List<DataRow>();
        var number = 1;
        while (reader.ReadLine() is { } line)
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
