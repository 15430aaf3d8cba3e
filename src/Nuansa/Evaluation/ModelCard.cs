using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Nuansa.Checkpoints;

namespace Nuansa.Evaluation;

/// <summary>What a model card says beyond what the model folder records.</summary>
public sealed record ModelCardOptions
{
    /// <summary>ISO 639-1 codes, e.g. <c>id</c>, <c>en</c>.</summary>
    public IReadOnlyList<string> Languages { get; init; } = [];

    /// <summary>The card's <c>license</c> (an HF Hub licence id such as <c>mit</c>, <c>apache-2.0</c>).</summary>
    public string License { get; init; } = "other";

    /// <summary>HF Hub ids of the datasets the model was trained on.</summary>
    public IReadOnlyList<string> Datasets { get; init; } = [];

    /// <summary>A folder written by <c>nuansa eval</c> whose metrics.json gives the evaluation results.</summary>
    public string? EvaluationDirectory { get; init; }
}

/// <summary>
/// Writes a Hugging Face model card (<c>README.md</c> with YAML metadata and a <c>model-index</c>) for a model
/// folder, from its config, its <c>training_args.json</c> and (optionally) an evaluation's <c>metrics.json</c>.
/// </summary>
public static class ModelCard
{
    /// <summary>The model card (README.md's text) of the model folder <paramref name="modelDirectory"/>; the caller writes it.</summary>
    public static string Write(string modelDirectory, ModelCardOptions options)
    {
        var config = ModelConfig.Load(modelDirectory);
        var summary = ReadJson(Path.Combine(modelDirectory, Training.Trainer.SummaryFileName));
        var metrics = options.EvaluationDirectory != null ? ReadJson(Path.Combine(options.EvaluationDirectory, "metrics.json"))
            ?? throw new NuansaException($"{options.EvaluationDirectory}: no metrics.json (run nuansa eval first).") : null;
        var tasks = Inference.MultiTask.FromConfig(config);
        var name = Path.GetFileName(Path.GetFullPath(modelDirectory).TrimEnd('/', '\\'));
        var pairs = summary?["pairs"]?.GetValue<bool>() == true;
        var inv = CultureInfo.InvariantCulture;
        var card = new StringBuilder();

        // YAML front matter, as the Hub reads it.
        card.AppendLine("---");
        if (options.Languages.Count > 0)
            card.AppendLine("language:").AppendJoin("", options.Languages.Select(l => $"- {l}\n"));
        card.AppendLine(inv, $"license: {options.License}");
        card.AppendLine("library_name: transformers");
        card.AppendLine("pipeline_tag: text-classification");
        card.AppendLine("tags:").AppendLine("- text-classification").AppendLine("- nuansa").AppendLine(inv, $"- {config.ModelType}");
        if (options.Datasets.Count > 0)
            card.AppendLine("datasets:").AppendJoin("", options.Datasets.Select(d => $"- {d}\n"));
        var results = Headline(metrics, summary);
        if (results.Count > 0)
        {
            card.AppendLine("metrics:").AppendJoin("", results.Select(r => $"- {r.Name}\n"));
            card.AppendLine("model-index:").AppendLine(inv, $"- name: {name}").AppendLine("  results:").AppendLine("  - task:")
                .AppendLine("      type: text-classification").AppendLine("      name: Text Classification").AppendLine("    dataset:")
                .AppendLine(inv, $"      name: {(options.Datasets.Count > 0 ? options.Datasets[0] : metrics != null ? "evaluation data" : "held-out validation data")}")
                .AppendLine("      type: custom").AppendLine("    metrics:");
            foreach (var (metric, value) in results)
                card.AppendLine(inv, $"    - type: {metric}").AppendLine(inv, $"      value: {value:0.####}");
        }
        card.AppendLine("---").AppendLine();

        card.AppendLine(inv, $"# {name}").AppendLine();
        var kind = tasks != null ? $"a multi-task classifier ({tasks.Count} tasks, each with its own labels)"
            : config.Problem == Problem.MultiLabelClassification ? $"a multi-label classifier ({config.NumLabels} labels, any number per text)"
            : $"a {config.NumLabels}-class classifier";
        card.AppendLine(inv, $"A {config.ModelType} model ({config.NumHiddenLayers} layers, hidden size {config.HiddenSize}) trained with Nuansa as {kind}.");
        if (pairs)
            card.AppendLine().AppendLine("It judges a text in a context: give the context as the first segment and the text as the second.");
        card.AppendLine();

        card.AppendLine("## Intended use").AppendLine();
        card.AppendLine("Classifying short texts like those it was trained on. Check it on your own data before relying on it; " +
                        "its scores are estimates, so route uncertain or high-stakes cases to a person.").AppendLine();

        card.AppendLine("## Labels").AppendLine();
        if (tasks != null)
        {
            foreach (var t in tasks)
                card.AppendLine(inv, $"- **{t.Name}**: {string.Join(", ", t.Labels)}");
            card.AppendLine().AppendLine("The logits are laid out task after task; apply a softmax within each task.");
        }
        else
        {
            for (var i = 0; i < config.NumLabels; i++)
                card.AppendLine(inv, $"- {i}: {config.Id2Label[i]}");
        }
        card.AppendLine();

        card.AppendLine("## Input format").AppendLine();
        card.AppendLine(pairs
            ? "Pairs, encoded as `[CLS] context [SEP] text [SEP]` (token type 0 for the context, 1 for the text on BERT)."
            : "Single texts, encoded as `[CLS] text [SEP]`.");
        // Training may cut shorter than inference does: say both, so the card never promises the wrong length.
        var limit = Models.Architecture.For(config).MaxPositions(config) is var positions && File.Exists(Path.Combine(modelDirectory, "config.json"))
            ? Math.Min(Tokenization.Tokenizer.Load(modelDirectory).ModelMaxLength, positions) : (int?)null;
        var trained = summary?["options"]?["max_length"]?.ToString();
        card.AppendLine((trained, limit) switch
        {
            ({ } t, { } l) when t != l.ToString(inv) =>
                $"Trained on inputs cut at {t} tokens (longest first). At inference, Nuansa and HF cut at the model's limit of {l} tokens; pass a maximum length of {t} to classify as it was trained.",
            ({ } t, _) => $"Inputs longer than {t} tokens are truncated (longest first).",
            (_, { } l) => $"Inputs longer than {l} tokens, the model's limit, are truncated (longest first).",
            _ => "Inputs longer than the model's token limit are truncated (longest first).",
        }).AppendLine();
        var preprocessing = Data.TextPreprocessing.FromConfig(config);
        if (!preprocessing.IsEmpty)
        {
            // HF transformers does not read nuansa_preprocessing: users of other libraries must normalize themselves.
            var steps = new List<string>();
            if (preprocessing.Lowercase)
                steps.Add("lower-cased");
            if (preprocessing.MaxRepeat is { } max)
                steps.Add(string.Create(inv, $"runs of one repeated character cut to {max}"));
            if (preprocessing.Replacements.Count > 0)
                steps.Add(string.Create(inv, $"{preprocessing.Replacements.Count} slang words or abbreviations replaced word by word (listed under `nuansa_preprocessing` in config.json)"));
            card.AppendLine(inv, $"Texts were normalized before tokenizing: {string.Join("; ", steps)}. Nuansa applies this by itself; with other libraries, normalize texts the same way first.").AppendLine();
        }

        if (summary != null)
        {
            card.AppendLine("## Training").AppendLine();
            card.AppendLine(inv, $"Started from `{summary["base_model"]}`, trained on `{summary["train_file"]}` ({summary["train_examples"]} examples) " +
                                 $"and evaluated on {(summary["validation_file"] is { } v ? $"`{v}`" : "a stratified held-out share")} ({summary["validation_examples"]} examples), " +
                                 $"{summary["steps"]} optimizer steps in {summary["duration_seconds"]} s.").AppendLine();
            card.AppendLine("| hyper-parameter | value |").AppendLine("| --- | --- |");
            foreach (var key in new[] { "learning_rate", "num_train_epochs", "per_device_train_batch_size", "gradient_accumulation_steps", "warmup_ratio",
                         "warmup_steps", "weight_decay", "max_grad_norm", "lr_scheduler_type", "seed", "loss", "label_smoothing", "class_weights",
                         "balanced_class_weights", "oversample", "metric_for_best_model", "load_best_model_at_end", "early_stopping_patience", "max_length" })
            {
                if (summary["options"]?[key] is { } value)
                    card.AppendLine(inv, $"| {key} | {value.ToJsonString()} |");
            }
            card.AppendLine().AppendLine("Optimizer: AdamW (β = 0.9, 0.999; ε = 1e-8), no weight decay on biases and LayerNorm weights.").AppendLine();
        }

        card.AppendLine("## Evaluation").AppendLine();
        if (metrics != null)
        {
            var m = metrics["tasks"] != null ? metrics["overall"]! : metrics;
            if (metrics["data"] is JsonObject data)
            {
                var count = m["count"] ?? metrics["tasks"]?.AsObject().FirstOrDefault().Value?["count"];
                card.AppendLine(inv, $"Evaluated with `nuansa eval` on `{data["file"]}` ({count} examples, {data["bytes"]!.GetValue<long>():N0} bytes).").AppendLine();
            }
            card.AppendLine("| metric | value | 95% interval |").AppendLine("| --- | --- | --- |");
            foreach (var key in ClassificationMetrics.Names)
            {
                if (m[key] is not { } value)
                    continue;
                var interval = metrics["bootstrap"]?[key] is JsonObject b ? string.Create(inv, $"{b["low"]!.GetValue<double>():0.0000} – {b["high"]!.GetValue<double>():0.0000}") : "";
                card.AppendLine(inv, $"| {key} | {value.GetValue<double>():0.0000} | {interval} |");
            }
            if (metrics["per_class"] is JsonObject perClass)
            {
                card.AppendLine().AppendLine("| label | precision | recall | F1 | support |").AppendLine("| --- | --- | --- | --- | --- |");
                foreach (var (label, s) in perClass)
                    card.AppendLine(inv, $"| {label} | {s!["precision"]!.GetValue<double>():0.0000} | {s["recall"]!.GetValue<double>():0.0000} | {s["f1"]!.GetValue<double>():0.0000} | {s["support"]} |");
            }
            if (metrics["groups"] is JsonObject groups)
            {
                // The subgroup results of `nuansa eval --group-column`: the gaps are what readers should see.
                card.AppendLine().AppendLine("By group:").AppendLine().AppendLine("| group | examples | accuracy | f1_macro |").AppendLine("| --- | --- | --- | --- |");
                foreach (var (group, g) in groups)
                    card.AppendLine(inv, $"| {group} | {g!["count"]} | {g["accuracy"]!.GetValue<double>():0.0000} | {g["f1_macro"]!.GetValue<double>():0.0000} |");
            }
        }
        else if (SavedMetrics(summary) is JsonObject saved)
        {
            var step = summary!["saved_step"] ?? summary["best_step"];
            card.AppendLine(inv, $"On the held-out validation data, with the saved weights (step {step}{(summary["best_step"]?.ToJsonString() == step?.ToJsonString() ? ", the best evaluation" : "")}):").AppendLine();
            card.AppendLine("| metric | value |").AppendLine("| --- | --- |");
            foreach (var (key, value) in saved)
                card.AppendLine(inv, $"| {key} | {value!.GetValue<double>():0.0000} |");
        }
        else if (summary?["best"] is JsonObject)
        {
            card.AppendLine(inv, $"The saved weights (step {summary["saved_step"]}) were not evaluated during training (the best evaluation was at step {summary["best_step"]}): run `nuansa eval` and `nuansa card --eval` to add results.");
        }
        else
        {
            card.AppendLine("Not evaluated yet: run `nuansa eval` and `nuansa card --eval` to add results.");
        }
        card.AppendLine();

        card.AppendLine("## Limitations").AppendLine();
        card.AppendLine("- Trained on one dataset: expect lower accuracy on other domains, registers, slang and spelling.");
        card.AppendLine("- Rare classes get less reliable scores; look at the per-class figures, not only the averages.");
        card.AppendLine("- Scores are not probabilities of being right unless the calibration (ECE in the evaluation report) is low.").AppendLine();

        card.AppendLine("## Usage").AppendLine().AppendLine("With Nuansa (.NET):").AppendLine().AppendLine("```csharp");
        card.AppendLine(inv, $"using var classifier = Nuansa.Inference.TextClassifier.Load(\"{name}\");");
        card.AppendLine(pairs ? "var result = classifier.Classify(\"context\", \"text to judge\");" : "var result = classifier.Classify(\"text to judge\");");
        card.AppendLine("```").AppendLine().AppendLine("```bash");
        card.AppendLine(pairs ? $"nuansa classify --model {name} --context \"context\" \"text to judge\"" : $"nuansa classify --model {name} \"text to judge\"");
        card.AppendLine("```").AppendLine().AppendLine("With Hugging Face transformers (Python):").AppendLine().AppendLine("```python");
        card.AppendLine("from transformers import AutoTokenizer, AutoModelForSequenceClassification");
        card.AppendLine(inv, $"tokenizer = AutoTokenizer.from_pretrained(\"{name}\")");
        card.AppendLine(inv, $"model = AutoModelForSequenceClassification.from_pretrained(\"{name}\")");
        card.AppendLine(pairs ? "inputs = tokenizer(\"context\", \"text to judge\", truncation=True, return_tensors=\"pt\")" : "inputs = tokenizer(\"text to judge\", truncation=True, return_tensors=\"pt\")");
        card.AppendLine(config.Problem == Problem.MultiLabelClassification ? "scores = model(**inputs).logits.sigmoid()" : "scores = model(**inputs).logits.softmax(-1)");
        card.AppendLine("```");
        return card.ToString();
    }

    private static List<(string Name, double Value)> Headline(JsonNode? metrics, JsonNode? summary)
    {
        var source = metrics is null ? SavedMetrics(summary) : metrics["tasks"] != null ? metrics["overall"] : metrics;
        var result = new List<(string, double)>();
        foreach (var key in new[] { "accuracy", "f1_macro", "f1_weighted", "subset_accuracy", "f1_micro" })
        {
            if (source?[key] is JsonValue v && v.TryGetValue(out double d))
                result.Add((key, d));
        }
        return result;
    }

    // The validation metrics of the weights saved; runs written before saved_step was recorded always saved the best.
    private static JsonNode? SavedMetrics(JsonNode? summary) => summary?["saved_step"] != null ? summary["saved_metrics"] : summary?["best"];

    private static JsonNode? ReadJson(string path)
    {
        if (!File.Exists(path))
            return null;
        try
        {
            return JsonNode.Parse(File.ReadAllText(path));
        }
        catch (JsonException e)
        {
            throw new NuansaException($"{path}: not valid JSON: {e.Message}");
        }
    }
}
