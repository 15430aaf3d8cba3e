using System.Text.Json;
using Nuansa.Checkpoints;

namespace Nuansa.Training;

/// <summary>
/// A training checkpoint: parameters, AdamW moments, the best evaluation so far with its weights, and the
/// trainer's counters and log — everything needed to continue a run exactly (with the dropout masks drawn from
/// the step number and the shuffles replayed from the seed).
/// </summary>
internal static class Checkpoint
{
    private const string ModelFile = "model.safetensors";
    private const string OptimizerFile = "optimizer.safetensors";
    private const string BestFile = "best_model.safetensors";
    private const string StateFile = "trainer_state.json";

    internal sealed record State(int Step, int Epoch, int OptimizerStep, int SinceImprovement,
        IReadOnlyDictionary<string, float[]> Parameters, IReadOnlyDictionary<string, (float[] M, float[] V)> Moments,
        EvaluationRecord? Best, IReadOnlyDictionary<string, float[]>? BestParameters, IReadOnlyList<EvaluationRecord> Evaluations, IReadOnlyList<string> Log);

    public static void Save(string folder, State state)
    {
        AtomicFolder.Write(folder, staging =>
        {
            SafeTensorsWriter.Write(Path.Combine(staging, ModelFile), state.Parameters.Select(p => TensorToWrite.FromSingle(p.Key, [p.Value.Length], p.Value)));
            SafeTensorsWriter.Write(Path.Combine(staging, OptimizerFile), state.Moments.SelectMany(m => new[]
            {
                TensorToWrite.FromSingle($"exp_avg.{m.Key}", [m.Value.M.Length], m.Value.M),
                TensorToWrite.FromSingle($"exp_avg_sq.{m.Key}", [m.Value.V.Length], m.Value.V),
            }));
            // The best weights are stored only when they are not the model's own (the best evaluation was earlier).
            var bestIsModel = state.BestParameters != null && state.Best?.Step == state.Step;
            if (state.BestParameters != null && !bestIsModel)
                SafeTensorsWriter.Write(Path.Combine(staging, BestFile), state.BestParameters.Select(p => TensorToWrite.FromSingle(p.Key, [p.Value.Length], p.Value)));
            var json = new
            {
                step = state.Step,
                epoch = state.Epoch,
                optimizer_step = state.OptimizerStep,
                since_improvement = state.SinceImprovement,
                best = state.Best,
                best_is_model = bestIsModel,
                evaluations = state.Evaluations,
                log = state.Log,
            };
            File.WriteAllText(Path.Combine(staging, StateFile), JsonSerializer.Serialize(json, new JsonSerializerOptions { WriteIndented = true }));
        });
    }

    public static State Load(string folder, TrainingGraph graph)
    {
        var statePath = Path.Combine(folder, StateFile);
        if (!File.Exists(statePath))
            throw new NuansaException($"{folder}: not a training checkpoint (no {StateFile}).");
        using var json = JsonDocument.Parse(File.ReadAllBytes(statePath));
        var root = json.RootElement;
        var parameters = ReadTensors(Path.Combine(folder, ModelFile), graph);
        var moments = new Dictionary<string, (float[], float[])>(StringComparer.Ordinal);
        using (var optimizer = SafeTensorsFile.Open(Path.Combine(folder, OptimizerFile)))
        {
            foreach (var p in graph.Parameters.Where(p => optimizer.Contains($"exp_avg.{p.Name}")))
                moments[p.Name] = (optimizer.ReadSingle($"exp_avg.{p.Name}"), optimizer.ReadSingle($"exp_avg_sq.{p.Name}"));
        }
        var bestPath = Path.Combine(folder, BestFile);
        var bestIsModel = root.TryGetProperty("best_is_model", out var b) && b.ValueKind == JsonValueKind.True;
        return new State(
            root.GetProperty("step").GetInt32(), root.GetProperty("epoch").GetInt32(), root.GetProperty("optimizer_step").GetInt32(),
            root.GetProperty("since_improvement").GetInt32(), parameters, moments,
            root.GetProperty("best").ValueKind == JsonValueKind.Null ? null : Record(root.GetProperty("best")),
            bestIsModel ? parameters.ToDictionary(p => p.Key, p => p.Value.ToArray()) : File.Exists(bestPath) ? ReadTensors(bestPath, graph) : null,
            [.. root.GetProperty("evaluations").EnumerateArray().Select(Record)],
            [.. root.GetProperty("log").EnumerateArray().Select(l => l.GetString()!)]);
    }

    private static Dictionary<string, float[]> ReadTensors(string path, TrainingGraph graph)
    {
        using var file = SafeTensorsFile.Open(path);
        var result = new Dictionary<string, float[]>(StringComparer.Ordinal);
        foreach (var p in graph.Parameters)
        {
            if (!file.Contains(p.Name) || file.GetInfo(p.Name).ElementCount != p.ElementCount)
                throw new NuansaException($"{path}: parameter '{p.Name}' is missing or has another size; the checkpoint is not of this model.");
            result[p.Name] = file.ReadSingle(p.Name);
        }
        return result;
    }

    private static EvaluationRecord Record(JsonElement e) => new(
        e.GetProperty("Step").GetInt32(), e.GetProperty("Epoch").GetDouble(),
        e.GetProperty("Metrics").EnumerateObject().ToDictionary(m => m.Name, m => m.Value.GetDouble()));
}
