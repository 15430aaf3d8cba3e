using System.Text.Json;
using System.Text.Json.Nodes;

namespace Nuansa.Inference;

/// <summary>
/// One step of a <see cref="Pipeline"/>: a classifier, and optionally a gate: only inputs whose best label is one of
/// <see cref="Keep"/> with at least <see cref="MinScore"/> go on to the next steps (a relevancy filter).
/// <see cref="Input"/> says whether the step reads a context–text input whole or only its text. <see cref="Tasks"/> names
/// the tasks of a multi-task checkpoint whose config does not (as <c>--tasks</c>); null uses the config's.
/// </summary>
public sealed record PipelineStep(string Name, string Model, IReadOnlyList<string>? Keep = null, double MinScore = 0, StepInput Input = StepInput.Pair,
    IReadOnlyList<TaskHead>? Tasks = null);

/// <summary>What a pipeline step reads of a context–text input: the pair (a context-conditioned model), or the text alone (a single-text model).</summary>
public enum StepInput
{
    /// <summary>The input as given: a text, or a context–text pair.</summary>
    Pair,
    /// <summary>Only the text of a pair (a single-text model behind a context-conditioned gate).</summary>
    Text,
}

/// <summary>
/// A rule that flags an input for attention (escalation, human review): it fires when any of <see cref="Labels"/>
/// scores at least its threshold in the step <see cref="Step"/>: its own in <see cref="LabelScores"/> (as
/// <c>nuansa thresholds</c> writes them), else <see cref="MinScore"/>.
/// </summary>
public sealed record PipelineAlert(string Name, string Step, IReadOnlyList<string> Labels, double MinScore,
    IReadOnlyDictionary<string, double>? LabelScores = null)
{
    /// <summary>The score at which <paramref name="label"/> fires this alert.</summary>
    public double Threshold(string label) => LabelScores != null && LabelScores.TryGetValue(label, out var t) ? t : MinScore;

    /// <summary>True when one of the alert's labels reaches its threshold in <paramref name="result"/> (a multi-task step's labels are named <c>task/label</c>).</summary>
    public bool Fires(Classification result) => result.Labels.Any(l => Labels.Contains(l.Label) && l.Score >= Threshold(l.Label));
}

/// <summary>What a pipeline did with one input.</summary>
/// <param name="Steps">Each step that ran on the input, by name, with all its labels best first.</param>
/// <param name="StoppedAt">The gate that filtered the input out, or null when it went through every step.</param>
/// <param name="Alerts">The names of the alerts that fired.</param>
public sealed record PipelineResult(IReadOnlyDictionary<string, Classification> Steps, string? StoppedAt, IReadOnlyList<string> Alerts)
{
    /// <summary>True when every gate let the input through.</summary>
    public bool Kept => StoppedAt == null;
}

/// <summary>
/// Classifiers chained as the context-conditioned card suggests (raw text → relevancy filter → sentiment), with
/// alert thresholds as the emotion card advises (escalate when "Frustrasi" or "Marah" passes a threshold). Every
/// step sees the same input (a text, or a context–text pair); a gate step stops the inputs it does not keep.
/// </summary>
public sealed class Pipeline : IDisposable
{
    private readonly List<(PipelineStep Step, TextClassifier Classifier)> _steps;

    private Pipeline(List<(PipelineStep, TextClassifier)> steps, IReadOnlyList<PipelineAlert> alerts)
    {
        _steps = steps;
        Alerts = alerts;
    }

    /// <summary>The steps, in order.</summary>
    public IReadOnlyList<PipelineStep> Steps => [.. _steps.Select(s => s.Step)];
    /// <summary>The alerts checked on every input.</summary>
    public IReadOnlyList<PipelineAlert> Alerts { get; }

    /// <summary>The classifier of a step.</summary>
    public TextClassifier Classifier(string step) => _steps.First(s => s.Step.Name == step).Classifier;

    /// <summary>
    /// Loads a pipeline file: <c>{"steps": [{"name", "model", "keep"?, "min_score"?, "input"?: "pair" | "text"}, ...], "alerts"?: [{"name", "step",
    /// "labels", "min_score"}]}</c>; model folders are relative to the file.
    /// </summary>
    public static Pipeline Load(string path, TextClassifierOptions? options = null)
    {
        var info = new FileInfo(path);
        if (!info.Exists)
            throw new NuansaException($"{path}: no such pipeline file.");
        if (info.Length > 1 << 20)
            throw new NuansaException($"{path}: a pipeline file over 1 MB is not a pipeline file.");
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(File.ReadAllBytes(path), documentOptions: new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            throw new NuansaException($"{path}: not valid JSON ({e.Message}).");
        }
        var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        var (steps, alerts) = Parse(root, path);
        return Create([.. steps.Select(s => s with { Model = Path.GetFullPath(s.Model, folder) })], alerts, options);
    }

    /// <summary>A pipeline of the given steps (loaded in order) and alerts, checked for consistency.</summary>
    public static Pipeline Create(IReadOnlyList<PipelineStep> steps, IReadOnlyList<PipelineAlert>? alerts = null, TextClassifierOptions? options = null)
    {
        alerts ??= [];
        if (steps.Count == 0)
            throw new NuansaException("A pipeline needs at least one step.");
        var duplicate = steps.GroupBy(s => s.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate != null)
            throw new NuansaException($"Two pipeline steps are named '{duplicate.Key}'.");
        var loaded = new List<(PipelineStep, TextClassifier)>();
        try
        {
            foreach (var step in steps)
            {
                var classifier = TextClassifier.Load(step.Model, (options ?? new TextClassifierOptions()) with { Tasks = step.Tasks });
                loaded.Add((step, classifier));
                if (classifier.Tasks != null && step.Keep != null)
                    throw new NuansaException($"Pipeline step '{step.Name}' is a multi-task model and cannot be a gate (\"keep\"): gate on a single-label step, alert on this one.");
                var unknown = step.Keep?.FirstOrDefault(l => !classifier.Labels.Contains(l));
                if (unknown != null)
                    throw new NuansaException($"Pipeline step '{step.Name}' keeps label '{unknown}', which its model does not have ({string.Join(", ", classifier.Labels)}).");
            }
            foreach (var alert in alerts)
            {
                var step = loaded.FirstOrDefault(s => s.Item1.Name == alert.Step);
                if (step.Item2 == null)
                    throw new NuansaException($"Alert '{alert.Name}' watches step '{alert.Step}', which the pipeline does not have.");
                var known = step.Item2.Tasks?.SelectMany(t => t.Labels.Select(l => $"{t.Name}/{l}")).ToList() ?? step.Item2.Labels;
                var unknown = alert.Labels.FirstOrDefault(l => !known.Contains(l));
                if (unknown != null)
                    throw new NuansaException($"Alert '{alert.Name}' watches label '{unknown}', which step '{alert.Step}' does not have ({string.Join(", ", known)}).");
            }
            return new Pipeline(loaded, alerts);
        }
        catch
        {
            foreach (var (_, c) in loaded)
                c.Dispose();
            throw;
        }
    }

    /// <summary>Runs every input through the steps; each step classifies, in one batched call, the inputs still kept.</summary>
    public IReadOnlyList<PipelineResult> Run(IReadOnlyList<TextInput> inputs, ClassifyOptions? options = null, CancellationToken cancellationToken = default)
    {
        // Gates and alerts read every label's score, whatever the caller asked to see.
        var all = (options ?? ClassifyOptions.Default) with { TopK = null };
        var steps = inputs.Select(_ => new Dictionary<string, Classification>(StringComparer.Ordinal)).ToArray();
        var stoppedAt = new string?[inputs.Count];
        var active = Enumerable.Range(0, inputs.Count).ToList();
        foreach (var (step, classifier) in _steps)
        {
            // A single-text step behind a context-conditioned one reads only the text, as it would alone.
            var stepInputs = active.Select(i => step.Input == StepInput.Text && inputs[i].TextPair is { } text ? new TextInput(text) : inputs[i]);
            var results = classifier.ClassifyBatch([.. stepInputs], all, cancellationToken: cancellationToken);
            var next = new List<int>();
            for (var k = 0; k < active.Count; k++)
            {
                var i = active[k];
                steps[i][step.Name] = results[k];
                if (step.Keep == null || (step.Keep.Contains(results[k].Top.Label) && results[k].Top.Score >= step.MinScore))
                    next.Add(i);
                else
                    stoppedAt[i] = step.Name;
            }
            active = next;
        }
        var topK = (options ?? ClassifyOptions.Default).TopK;
        return [.. steps.Select((s, i) => new PipelineResult(
            s.ToDictionary(p => p.Key, p => topK is { } k ? p.Value.Truncate(k) : p.Value, StringComparer.Ordinal),
            stoppedAt[i],
            [.. Alerts.Where(a => s.TryGetValue(a.Step, out var c) && a.Fires(c)).Select(a => a.Name)]))];
    }

    /// <summary>Releases every step's classifier.</summary>
    public void Dispose()
    {
        foreach (var (_, classifier) in _steps)
            classifier.Dispose();
    }

    private static (List<PipelineStep>, List<PipelineAlert>) Parse(JsonNode? root, string path)
    {
        NuansaException Bad(string what) => new($"{path}: {what}");
        if (root is not JsonObject o || o["steps"] is not JsonArray stepArray)
            throw Bad("expected an object with a \"steps\" list.");
        string Text(JsonObject item, string field, string where) =>
            item[field] is JsonValue v && v.GetValueKind() == JsonValueKind.String && v.GetValue<string>() is { Length: > 0 } s ? s
            : throw Bad($"{where} needs a non-empty \"{field}\" string.");
        double Score(JsonObject item, string field, string where) => item[field] switch
        {
            null => 0,
            JsonValue v when v.GetValueKind() == JsonValueKind.Number && v.GetValue<double>() is >= 0 and <= 1 and var d => d,
            _ => throw Bad($"{where}: \"{field}\" must be a number from 0 to 1."),
        };
        List<string>? Labels(JsonObject item, string field, string where) => item[field] switch
        {
            null => null,
            JsonArray a when a.Count > 0 && a.All(l => l is JsonValue v && v.GetValueKind() == JsonValueKind.String) => [.. a.Select(l => l!.GetValue<string>())],
            _ => throw Bad($"{where}: \"{field}\" must be a non-empty list of label names."),
        };
        var steps = new List<PipelineStep>();
        foreach (var (node, index) in stepArray.Select((n, i) => (n, i)))
        {
            var where = $"step {index + 1}";
            if (node is not JsonObject item)
                throw Bad($"{where} must be an object.");
            var unknown = item.Select(p => p.Key).FirstOrDefault(k => k is not ("name" or "model" or "keep" or "min_score" or "input" or "tasks"));
            if (unknown != null)
                throw Bad($"{where} has an unknown field \"{unknown}\" (name, model, keep, min_score, input, tasks).");
            var input = item["input"] switch
            {
                null => StepInput.Pair,
                JsonValue v when v.GetValueKind() == JsonValueKind.String && v.GetValue<string>() == "pair" => StepInput.Pair,
                JsonValue v when v.GetValueKind() == JsonValueKind.String && v.GetValue<string>() == "text" => StepInput.Text,
                _ => throw Bad($"{where}: \"input\" must be \"pair\" (the context and the text) or \"text\" (the text alone)."),
            };
            var keep = Labels(item, "keep", where);
            if (keep == null && item["min_score"] != null)
                throw Bad($"{where}: \"min_score\" applies to a gate; give \"keep\" too.");
            steps.Add(new PipelineStep(Text(item, "name", where), Text(item, "model", where), keep, Score(item, "min_score", where), input, Tasks(item["tasks"], where)));
        }
        // "tasks": [{"name", "labels": [...]}, ...], as nuansa_tasks in a config.
        List<TaskHead>? Tasks(JsonNode? node, string where)
        {
            if (node == null)
                return null;
            if (node is not JsonArray array || array.Count == 0 || array.Any(t => t is not JsonObject o || o.Count != 2 || o["name"] is not JsonValue n
                    || n.GetValueKind() != JsonValueKind.String || Labels(o, "labels", where) == null))
                throw Bad($"{where}: \"tasks\" must be a non-empty list of {{\"name\": ..., \"labels\": [...]}}.");
            return [.. array.Select(t => new TaskHead(t!["name"]!.GetValue<string>(), Labels(t.AsObject(), "labels", where)!))];
        }
        var alerts = new List<PipelineAlert>();
        if (o["alerts"] is JsonNode alertNode)
        {
            if (alertNode is not JsonArray alertArray)
                throw Bad("\"alerts\" must be a list.");
            foreach (var (node, index) in alertArray.Select((n, i) => (n, i)))
            {
                var where = $"alert {index + 1}";
                if (node is not JsonObject item)
                    throw Bad($"{where} must be an object.");
                var unknown = item.Select(p => p.Key).FirstOrDefault(k => k is not ("name" or "step" or "labels" or "min_score"));
                if (unknown != null)
                    throw Bad($"{where} has an unknown field \"{unknown}\" (name, step, labels, min_score).");
                // "labels": a list (one "min_score" for all) or an object of label → its own threshold.
                if (item["labels"] is JsonObject perLabel)
                {
                    if (perLabel.Count == 0)
                        throw Bad($"{where}: \"labels\" is empty.");
                    var scores = perLabel.ToDictionary(p => p.Key, p => p.Value is JsonValue v && v.GetValueKind() == JsonValueKind.Number && v.GetValue<double>() is >= 0 and <= 1 and var d ? d
                        : throw Bad($"{where}: the threshold of \"{p.Key}\" must be a number from 0 to 1."), StringComparer.Ordinal);
                    alerts.Add(new PipelineAlert(Text(item, "name", where), Text(item, "step", where), [.. scores.Keys], Score(item, "min_score", where), scores));
                }
                else
                {
                    alerts.Add(new PipelineAlert(Text(item, "name", where), Text(item, "step", where),
                        Labels(item, "labels", where) ?? throw Bad($"{where} needs \"labels\"."), Score(item, "min_score", where)));
                }
            }
        }
        var unknownTop = o.Select(p => p.Key).FirstOrDefault(k => k is not ("steps" or "alerts"));
        if (unknownTop != null)
            throw Bad($"unknown field \"{unknownTop}\" (steps, alerts).");
        return (steps, alerts);
    }
}
