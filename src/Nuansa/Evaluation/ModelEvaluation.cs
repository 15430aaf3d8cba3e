using System.Text.Json;
using Nuansa.Data;
using Nuansa.Inference;

namespace Nuansa.Evaluation;

/// <summary>The columns of labelled data: the text, the optional second text of a pair, the gold label (or one column per task), and an optional group.</summary>
public sealed record EvaluationColumns
{
    /// <summary>Column of the text.</summary>
    public string TextColumn { get; init; } = "text";

    /// <summary>
    /// Column of a pair's second text (the text column is then the first segment, the context). A name given must be a
    /// column of the data; null reads <c>text_pair</c> where the data has it.
    /// </summary>
    public string? PairColumn { get; init; }

    /// <summary>Column of the gold label.</summary>
    public string LabelColumn { get; init; } = "label";

    /// <summary>Also compute the metrics of each value of this column (language, source, demographic group): a bias audit.</summary>
    public string? GroupColumn { get; init; }
}

/// <summary>
/// A classifier measured on labelled data (what <c>nuansa eval</c> computes): one <see cref="EvaluationReport"/> per
/// task (one for a single-label model), or multi-label metrics, and the predictions as JSON Lines. Write it out with
/// <c>Nuansa.Reporting.EvaluationFolder</c>.
/// </summary>
public sealed class ModelEvaluation
{
    private ModelEvaluation(IReadOnlyList<(string? Task, EvaluationReport Report)> reports, MultiLabelMetrics? multiLabel, IReadOnlyList<string> labels, int count, string predictions)
    {
        Reports = reports;
        MultiLabel = multiLabel;
        Labels = labels;
        Count = count;
        Predictions = predictions;
    }

    /// <summary>Single-label: one report (task null); multi-task: one per task. Empty for a multi-label model.</summary>
    public IReadOnlyList<(string? Task, EvaluationReport Report)> Reports { get; }

    /// <summary>For a multi-label model (a label is predicted when its sigmoid passes 0.5), its metrics; null otherwise.</summary>
    public MultiLabelMetrics? MultiLabel { get; }

    /// <summary>The model's labels, by id.</summary>
    public IReadOnlyList<string> Labels { get; }

    /// <summary>Examples evaluated.</summary>
    public int Count { get; }

    /// <summary>Examples longer than the length the model was run at, so cut (truncated) before classifying; 0 with long-text windows.</summary>
    public int Truncated { get; private init; }

    /// <summary>The token length inputs were cut to.</summary>
    public int MaxLength { get; private init; }

    /// <summary>One line per example: its <c>line</c> in the data, the ranked <c>labels</c> (or <c>tasks</c>) and the gold <c>label</c>.</summary>
    public string Predictions { get; }

    /// <summary>Runs <paramref name="classifier"/> on <paramref name="data"/> and measures it against the gold labels.</summary>
    public static ModelEvaluation Evaluate(TextClassifier classifier, TrainingData data, EvaluationColumns? columns = null,
        ClassifyOptions? classify = null, EvaluationOptions? options = null, CancellationToken cancellationToken = default)
    {
        columns ??= new EvaluationColumns();
        options ??= new EvaluationOptions();
        var (rows, dataPath) = (data.Rows, data.Source);
        if (rows.Count == 0)
            throw new NuansaException($"{dataPath}: no examples to evaluate.");
        // Every column named is checked before the model runs: a misspelled one is an error, never an empty column.
        (string?, string)[] gold = classifier.Tasks is { } tasks ? [.. tasks.Select(t => ((string?)t.Name, $"task \"{t.Name}\""))] : [(columns.LabelColumn, "label")];
        DataColumns.Require(rows, dataPath, [(columns.GroupColumn, "group"), .. gold]);
        var inputs = TableInputs.Read(rows, dataPath, columns.TextColumn, columns.PairColumn);
        classify = (classify ?? ClassifyOptions.Default) with { TopK = null };
        var results = classifier.ClassifyBatch(inputs, classify, cancellationToken: cancellationToken);
        // How many were cut: a score on part of a text is worth saying (counted on the untruncated encodings).
        var maxLength = classify.MaxLength ?? classifier.MaxLength;
        var truncated = classify.LongText == LongText.Chunk ? 0
            : classifier.Encode(inputs, new Tokenization.EncodeOptions { Truncation = Tokenization.TruncationStrategy.DoNotTruncate }).Count(e => e.Length > maxLength);
        // Tasks given (or in the config) make it multi-task, whatever problem_type the config names.
        if (classifier.Head == HeadKind.MultiLabel)
        {
            var (metrics, lines) = EvaluateMultiLabel(classifier, rows, results, columns.LabelColumn, dataPath);
            return new ModelEvaluation([], metrics, classifier.Labels, rows.Count, lines) { Truncated = truncated, MaxLength = maxLength };
        }
        var (reports, predictions) = EvaluateModel(classifier, rows, results, columns.LabelColumn, dataPath, options, columns.GroupColumn);
        return new ModelEvaluation(reports, null, classifier.Labels, rows.Count, predictions) { Truncated = truncated, MaxLength = maxLength };
    }

    /// <summary>
    /// Scores an existing predictions file's rows: <c>nuansa classify</c> output, each with its gold label under
    /// <c>"label"</c> (an object task → label for multi-task).
    /// </summary>
    public static ModelEvaluation ScorePredictions(TrainingData predictions, EvaluationOptions? options = null)
    {
        var (reports, lines) = ScorePredictionRows(predictions.Rows, predictions.Source, options ?? new EvaluationOptions());
        return new ModelEvaluation(reports, null, reports[0].Item2.Labels, predictions.Rows.Count, lines);
    }

    // A label is predicted when its sigmoid score passes 0.5, as HF's pipeline reads multi-label outputs.
    private static (MultiLabelMetrics, string) EvaluateMultiLabel(TextClassifier classifier, IReadOnlyList<DataRow> rows, IReadOnlyList<Classification> results,
        string labelColumn, string dataPath)
    {
        var labels = classifier.Labels;
        var gold = rows.Select(r => r.LabelSet(labelColumn, labels, dataPath)).ToArray();
        var predicted = results.Select(r => labels.Select(l => r.Labels.Single(s => s.Label == l).Score > 0.5f).ToArray()).ToArray();
        var lines = ClassificationJson.Lines(Enumerable.Range(0, rows.Count), (json, i) =>
        {
            json.WriteStartObject();
            json.WriteNumber("line", rows[i].Line);
            ClassificationJson.WriteLabels(json, "labels", results[i].Labels);
            json.WriteStartArray("label");
            for (var c = 0; c < labels.Count; c++)
            {
                if (gold[i][c])
                    json.WriteStringValue(labels[c]);
            }
            json.WriteEndArray();
            json.WriteEndObject();
        });
        return (MultiLabelMetrics.Compute(gold, predicted), lines);
    }

    private static (List<(string?, EvaluationReport)>, string) EvaluateModel(TextClassifier classifier, IReadOnlyList<DataRow> rows, IReadOnlyList<Classification> results,
        string labelColumn, string dataPath, EvaluationOptions options, string? groupColumn)
    {
        // A group cell may be text or a number; an empty or missing one is its own group, "(none)".
        string Group(DataRow r) =>
            r.Fields.TryGetValue(groupColumn!, out var v) && v.ValueKind != System.Text.Json.JsonValueKind.Null
            && (v.ValueKind == System.Text.Json.JsonValueKind.String ? v.GetString()! : v.ToString()) is { Length: > 0 } g ? g : "(none)";
        var groups = groupColumn == null ? null : rows.Select(Group).ToArray();
        var heads = classifier.Tasks ?? [new TaskHead(labelColumn, classifier.Labels)];
        var gold = heads.Select(h => rows.Select(r => r.LabelId(classifier.Tasks != null ? h.Name : labelColumn, h.Labels, dataPath)).ToArray()).ToArray();
        var reports = new List<(string?, EvaluationReport)>();
        for (var t = 0; t < heads.Count; t++)
        {
            var ranked = results.Select(r => classifier.Tasks != null ? r.Tasks![heads[t].Name] : r.Labels).ToArray();
            var predicted = ranked.Select(l => heads[t].Labels.ToList().IndexOf(l[0].Label)).ToArray();
            var report = EvaluationReport.Compute(heads[t].Labels, gold[t], predicted, [.. ranked.Select(l => (double)l[0].Score)], options);
            reports.Add((classifier.Tasks != null ? heads[t].Name : null, groups == null ? report : report.WithGroups(groups, gold[t], predicted)));
        }
        var lines = ClassificationJson.Lines(Enumerable.Range(0, rows.Count), (json, i) =>
        {
            json.WriteStartObject();
            json.WriteNumber("line", rows[i].Line);
            if (classifier.Tasks != null)
            {
                json.WriteStartObject("tasks");
                foreach (var (task, labels) in results[i].Tasks!)
                    ClassificationJson.WriteLabels(json, task, labels);
                json.WriteEndObject();
                json.WriteStartObject("label");
                for (var t = 0; t < heads.Count; t++)
                    json.WriteString(heads[t].Name, heads[t].Labels[gold[t][i]]);
                json.WriteEndObject();
            }
            else
            {
                ClassificationJson.WriteLabels(json, "labels", results[i].Labels);
                json.WriteString("label", heads[0].Labels[gold[0][i]]);
            }
            json.WriteEndObject();
        });
        return (reports, lines);
    }

    // A predictions file: {"labels": [{"label", "score"}, ...], "label": gold} per line (or "tasks" and a "label" object).
    private static (List<(string?, EvaluationReport)>, string) ScorePredictionRows(IReadOnlyList<DataRow> rows, string file, EvaluationOptions options)
    {
        if (rows.Count == 0)
            throw new NuansaException($"{file}: no predictions.");
        var multiTask = rows[0].Fields.ContainsKey("tasks");
        var taskNames = multiTask ? rows[0].Fields["tasks"].EnumerateObject().Select(p => p.Name).ToArray() : [(string)null!];
        var reports = new List<(string?, EvaluationReport)>();
        foreach (var task in taskNames)
        {
            var labels = new List<string>();
            int Id(string name)
            {
                var i = labels.IndexOf(name);
                if (i >= 0)
                    return i;
                labels.Add(name);
                return labels.Count - 1;
            }
            var gold = new List<int>();
            var predicted = new List<int>();
            var confidence = new List<double>();
            foreach (var row in rows)
            {
                var ranked = multiTask ? Get(row, "tasks", file).GetProperty(task) : Get(row, "labels", file);
                var goldValue = multiTask ? Get(row, "label", file).GetProperty(task) : Get(row, "label", file);
                if (ranked.ValueKind != JsonValueKind.Array || ranked.GetArrayLength() == 0 || goldValue.ValueKind != JsonValueKind.String)
                    throw new NuansaException($"{file}, line {row.Line}: expected a non-empty \"labels\" list and a gold \"label\" string.");
                foreach (var entry in ranked.EnumerateArray())
                    Id(entry.GetProperty("label").GetString()!);
                gold.Add(Id(goldValue.GetString()!));
                predicted.Add(Id(ranked[0].GetProperty("label").GetString()!));
                confidence.Add(ranked[0].GetProperty("score").GetDouble());
            }
            reports.Add((task, EvaluationReport.Compute(labels, gold, predicted, confidence, options)));
        }
        return (reports, ClassificationJson.Lines(rows, (json, row) =>
        {
            json.WriteStartObject();
            foreach (var (name, value) in row.Fields)
            {
                json.WritePropertyName(name);
                value.WriteTo(json);
            }
            json.WriteEndObject();
        }));
    }

    private static JsonElement Get(DataRow row, string field, string file) =>
        row.Fields.TryGetValue(field, out var v) ? v : throw new NuansaException($"{file}, line {row.Line}: no \"{field}\" field.");
}
