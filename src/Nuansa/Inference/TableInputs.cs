using Nuansa.Data;

namespace Nuansa.Inference;

/// <summary>
/// Rows of a data file as model inputs, one rule for every command and the library (classify, pipeline, uncertain,
/// thresholds, eval, train): the text column, and for a pair either HF's second segment (the pair column:
/// <c>[CLS] text [SEP] pair [SEP]</c>) or a <c>context</c> column, which goes first. A row with both is refused, and a
/// named column the data lacks is an error (<see cref="DataColumns"/>).
/// </summary>
public static class TableInputs
{
    /// <summary>The column holding a pair's context, which goes first: <c>[CLS] context [SEP] text [SEP]</c>.</summary>
    public const string ContextColumn = "context";

    /// <summary>Each row's input, in row order.</summary>
    public static TextInput[] Read(IReadOnlyList<DataRow> rows, string source, string textColumn, string? pairColumn)
    {
        DataColumns.Require(rows, source, (textColumn, "text"));
        var pair = DataColumns.Pair(rows, source, pairColumn);
        var context = textColumn != ContextColumn && DataColumns.Of(rows).Contains(ContextColumn) ? ContextColumn : null;
        return [.. rows.Select(r =>
        {
            var text = r.Text(textColumn, source);
            var second = pair == null ? null : r.OptionalText(pair, source);
            var first = context == null ? null : r.OptionalText(context, source);
            if (first != null && second != null)
                throw new NuansaException($"{source}, line {r.Line}: both \"{pair}\" and \"{context}\"; give one (context comes first: [CLS] context [SEP] text [SEP]).");
            return first != null ? TextInput.WithContext(first, text) : new TextInput(text, second);
        })];
    }
}
