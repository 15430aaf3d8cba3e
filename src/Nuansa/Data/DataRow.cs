using System.Text.Json;

namespace Nuansa.Data;

/// <summary>A row of a data file: its 1-based line number and its fields by column name (JSON values as text).</summary>
public sealed record DataRow(int Line, IReadOnlyDictionary<string, JsonElement> Fields)
{
    /// <summary>A field as a string; a missing column or a non-string value is an error naming the line.</summary>
    public string Text(string column, string source) =>
        Cell(column, source) is { ValueKind: JsonValueKind.String } v ? v.GetString()!
        : throw new NuansaException($"{source}, line {Line}: column \"{column}\" is not text.");

    /// <summary>An optional string field (absent or null gives null).</summary>
    public string? OptionalText(string column, string source) =>
        !Fields.TryGetValue(column, out var v) || v.ValueKind == JsonValueKind.Null ? null : Text(column, source);

    /// <summary>
    /// A label given by name (one of <paramref name="labels"/>) or by id; an empty cell means <paramref name="absent"/>
    /// when one is given. Anything else names the line, the column and the labels.
    /// </summary>
    public int LabelId(string column, IReadOnlyList<string> labels, string source, string? absent = null)
    {
        var value = Cell(column, source);
        var text = value.ValueKind switch
        {
            JsonValueKind.String => value.GetString()!,
            JsonValueKind.Null => "",
            _ => value.GetRawText(),
        };
        return Resolve(text.Length == 0 && absent != null ? absent : text, column, labels, source);
    }

    /// <summary>Multi-label gold labels: a JSON list of names, or names separated by commas, semicolons or bars.</summary>
    public bool[] LabelSet(string column, IReadOnlyList<string> labels, string source)
    {
        var value = Cell(column, source);
        var names = value.ValueKind == JsonValueKind.Array
            ? value.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString()! : e.GetRawText())
            : (value.ValueKind == JsonValueKind.String ? value.GetString()! : value.GetRawText())
                .Split([',', ';', '|'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var set = new bool[labels.Count];
        foreach (var name in names)
            set[Resolve(name, column, labels, source)] = true;
        return set;
    }

    private JsonElement Cell(string column, string source) =>
        Fields.TryGetValue(column, out var value) ? value
        : throw new NuansaException($"{source}, line {Line}: no column \"{column}\" (columns: {string.Join(", ", Fields.Keys)}).");

    private int Resolve(string text, string column, IReadOnlyList<string> labels, string source)
    {
        for (var i = 0; i < labels.Count; i++)
        {
            if (labels[i] == text)
                return i;
        }
        if (int.TryParse(text, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var id) && id >= 0 && id < labels.Count)
            return id;
        throw new NuansaException($"{source}, line {Line}: label \"{text}\" in column \"{column}\" is not one of the labels ({string.Join(", ", labels)}) nor an id from 0 to {labels.Count - 1}.");
    }
}

/// <summary>Rows of data in memory (read from a file, or built by the caller), and where they came from for error messages.</summary>
public sealed record TrainingData(string Source, IReadOnlyList<DataRow> Rows)
{
    /// <summary>Rows from plain strings: each dictionary maps a column to its cell (null for an empty one); lines count from 1.</summary>
    public static TrainingData FromRows(string source, IEnumerable<IReadOnlyDictionary<string, string?>> rows) =>
        new(source, [.. rows.Select((r, i) => new DataRow(i + 1, r.ToDictionary(c => c.Key, c => JsonSerializer.SerializeToElement(c.Value), StringComparer.Ordinal)))]);
}

/// <summary>
/// The column names a caller gives, checked against the data before any work: a name that matches no column is an
/// error that lists the columns, never a column silently read as empty (a misspelled pair column would classify
/// single texts).
/// </summary>
public static class DataColumns
{
    /// <summary>The column of a pair's second text when none is named; read only where the data has it.</summary>
    public const string DefaultPair = "text_pair";

    /// <summary>Every column of the rows, in order of first appearance.</summary>
    public static IReadOnlyList<string> Of(IReadOnlyList<DataRow> rows)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var names = new List<string>();
        foreach (var row in rows)
        {
            foreach (var name in row.Fields.Keys)
            {
                if (seen.Add(name))
                    names.Add(name);
            }
        }
        return names;
    }

    /// <summary>Fails unless every named column (role: what it is for, e.g. "label") is a column of the rows.</summary>
    public static void Require(IReadOnlyList<DataRow> rows, string source, params (string? Name, string Role)[] columns)
    {
        if (rows.Count == 0)
            return;
        var present = Of(rows);
        foreach (var (name, role) in columns)
        {
            if (name != null && !present.Contains(name))
                throw new NuansaException($"{source}: no column \"{name}\" for the {role} (columns: {string.Join(", ", present)}).");
        }
    }

    /// <summary>
    /// The column of a pair's second text: a <paramref name="given"/> name must be a column; without one,
    /// <see cref="DefaultPair"/> when the data has it, else null (single texts).
    /// </summary>
    public static string? Pair(IReadOnlyList<DataRow> rows, string source, string? given)
    {
        if (given != null)
        {
            Require(rows, source, (given, "pair text"));
            return given;
        }
        return Of(rows).Contains(DefaultPair) ? DefaultPair : null;
    }
}
