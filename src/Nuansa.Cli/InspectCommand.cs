using System.CommandLine;
using System.Globalization;
using Nuansa.Checkpoints;

namespace Nuansa.Cli;

/// <summary><c>nuansa inspect --model DIR [--json]</c>.</summary>
internal static class InspectCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model", "-m") { Description = "Checkpoint folder (config.json and weights).", Required = true };
        var json = new Option<bool>("--json") { Description = "Print the summary as JSON (a stable format, see the README)." };
        var command = new Command("inspect", "Show a checkpoint's architecture, sizes, labels, parameter count and tensors.") { model, json };
        command.SetAction(parse => Program.Guard(parse, output =>
        {
            var summary = CheckpointSummary.Read(CliParsing.Model(parse, parse.GetValue(model)!));
            output.Write(parse.GetValue(json) ? summary.ToJson() : Describe(summary));
            return 0;
        }));
        return command;
    }

    private static string Describe(CheckpointSummary s)
    {
        var c = s.Config;
        var text = new System.Text.StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        text.AppendLine(inv, $"model:        {s.Path}");
        text.AppendLine(inv, $"architecture: {c.ModelType} ({(c.Architectures.Count > 0 ? string.Join(", ", c.Architectures) : "no architectures field")})");
        text.AppendLine(inv, $"sizes:        {c.NumHiddenLayers} layers, hidden {c.HiddenSize}, {c.NumAttentionHeads} heads, intermediate {c.IntermediateSize}, vocabulary {c.VocabSize}, positions {c.MaxPositionEmbeddings}");
        text.AppendLine(inv, $"problem type: {c.ProblemType ?? "(not set)"}");
        text.AppendLine(inv, $"labels:       {string.Join(", ", c.Id2Label.Select((l, i) => $"{i}={l}"))}");
        text.AppendLine(inv, $"weights:      {s.WeightFormat} ({string.Join(", ", s.WeightFiles)})");
        text.AppendLine(inv, $"parameters:   {s.ParameterCount:N0}");
        text.AppendLine(inv, $"tensors:      {s.Tensors.Count}");
        var width = s.Tensors.Count == 0 ? 0 : s.Tensors.Max(t => t.Name.Length);
        foreach (var t in s.Tensors)
            text.AppendLine(inv, $"  {t.Name.PadRight(width)}  {t.DType.Name(),-4}  [{string.Join(", ", t.Shape)}]");
        return text.ToString();
    }
}
