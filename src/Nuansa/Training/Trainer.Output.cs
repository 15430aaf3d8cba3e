using System.Text.Json;
using System.Text.Json.Nodes;
using Nuansa.Checkpoints;

using Nuansa.Tokenization;

namespace Nuansa.Training;

/// <summary>The trainer's output: the HF checkpoint folder with its log, summary and card, and the intermediate checkpoints kept.</summary>
public static partial class Trainer
{
    // The newest `limit` checkpoint-<step> folders stay; older ones go (each checkpoint carries the best weights so far).
    private static List<string> RemoveOldCheckpoints(string folder, int limit)
    {
        var removed = new List<string>();
        var saved = Directory.GetDirectories(folder, "checkpoint-*")
            .Select(d => (Path: d, Step: int.TryParse(Path.GetFileName(d)["checkpoint-".Length..], System.Globalization.CultureInfo.InvariantCulture, out var s) ? s : -1))
            .Where(c => c.Step >= 0)
            .OrderByDescending(c => c.Step);
        foreach (var (path, _) in saved.Skip(limit))
        {
            Directory.Delete(path, recursive: true);
            removed.Add(path);
        }
        return removed;
    }

    private static long FolderBytes(string folder) =>
        new DirectoryInfo(folder).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length);

    /// <summary>The file beside a trained model that records how it was trained (for its model card).</summary>
    public const string SummaryFileName = "training_args.json";

    private static readonly JsonSerializerOptions OptionsJson = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    private static void SaveCheckpoint(string modelDirectory, string outputDirectory, ModelConfig config, TrainingGraph graph,
        Dictionary<string, float[]> parameters, List<string> log, IReadOnlyList<Inference.TaskHead>? tasks, JsonObject summary, Data.TextPreprocessing? preprocessing)
    {
        AtomicFolder.Write(outputDirectory, staging =>
        {
            var configJson = JsonNode.Parse(config.ToJson())!.AsObject();
            configJson["architectures"] = new JsonArray(Models.Architecture.For(config).ClassName(config.ModelType));
            configJson["torch_dtype"] = "float32";
            if (preprocessing != null)
            {
                // Saved so that classification and serving normalize text as training did.
                if (preprocessing.IsEmpty)
                    configJson.Remove(Data.TextPreprocessing.ConfigField);
                else
                    configJson[Data.TextPreprocessing.ConfigField] = preprocessing.ToJson();
            }
            if (tasks != null)
            {
                // Saved so the model classifies as multi-task without being told again.
                configJson[Inference.MultiTask.ConfigField] = new JsonArray([.. tasks.Select(t =>
                    (JsonNode)new JsonObject { ["name"] = t.Name, ["labels"] = new JsonArray([.. t.Labels.Select(l => (JsonNode)l)]) })]);
            }
            File.WriteAllText(Path.Combine(staging, "config.json"), configJson.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
            SafeTensorsWriter.Write(Path.Combine(staging, WeightStore.SafetensorsName),
                graph.Parameters.Select(p => TensorToWrite.FromSingle(p.Name, p.Shape, parameters[p.Name])),
                new Dictionary<string, string> { ["format"] = "pt" });
            TokenizerFiles.CopyTo(modelDirectory, staging);
            File.WriteAllLines(Path.Combine(staging, LogFileName), log);
            File.WriteAllText(Path.Combine(staging, SummaryFileName), summary.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
            File.WriteAllText(Path.Combine(staging, "README.md"), Evaluation.ModelCard.Write(staging, new Evaluation.ModelCardOptions()));
        });
    }

    private static string Json(Dictionary<string, object?> values) =>
        JsonSerializer.Serialize(values.ToDictionary(p => p.Key, p => p.Value is double d && !double.IsFinite(d) ? null : p.Value));

    // training_args.json: what the run was, for the model card.
    private static JsonObject Summary(string modelDirectory, string trainSource, string? validationSource, List<Example> train, List<Example> validation,
        TaskSpec task, TrainingOptions options, int steps, int epochs, EvaluationRecord? best, int savedStep, EvaluationRecord? savedEvaluation, TimeSpan duration)
    {
        static JsonNode? Headline(EvaluationRecord? record) =>
            record == null ? null : JsonSerializer.SerializeToNode(record.Metrics.Where(m => !m.Key.Contains('/')).ToDictionary(m => m.Key, m => m.Value));
        return new JsonObject
        {
            ["base_model"] = Path.GetFileName(Path.GetFullPath(modelDirectory).TrimEnd('/', '\\')),
            ["train_file"] = Path.GetFileName(trainSource),
            ["validation_file"] = validationSource != null ? Path.GetFileName(validationSource) : null,
            ["train_examples"] = train.Count,
            ["validation_examples"] = validation.Count,
            ["pairs"] = train.Any(e => e.IsPair),
            ["mode"] = task.Mode.ToString(),
            ["options"] = JsonSerializer.SerializeToNode(options, OptionsJson),
            ["steps"] = steps,
            ["epochs"] = epochs,
            ["best"] = Headline(best),
            ["best_step"] = best?.Step,
            ["saved_step"] = savedStep,
            ["saved_metrics"] = Headline(savedEvaluation),
            ["duration_seconds"] = Math.Round(duration.TotalSeconds, 1),
        };
    }
}
