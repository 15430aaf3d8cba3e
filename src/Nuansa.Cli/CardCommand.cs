using System.CommandLine;
using Nuansa.Evaluation;

namespace Nuansa.Cli;

/// <summary><c>nuansa card --model DIR [--eval DIR] [--language ..] [--license ..] [--dataset ..]</c>: writes the model card README.md.</summary>
internal static class CardCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model", "-m") { Description = "Model folder (a card is written there as README.md).", Required = true };
        var eval = new Option<string?>("--eval") { Description = "A folder written by nuansa eval, for the evaluation results." };
        var language = new Option<string?>("--language") { Description = "Comma-separated ISO 639-1 codes, e.g. id,en." };
        var license = new Option<string>("--license") { DefaultValueFactory = _ => "other" };
        var dataset = new Option<string?>("--dataset") { Description = "Comma-separated dataset names." };
        var force = new Option<bool>("--force") { Description = "Replace a README.md that Nuansa did not write." };
        var command = new Command("card", "Write a Hugging Face model card (README.md with metadata) for a model folder.")
        {
            model, eval, language, license, dataset, force,
        };
        command.SetAction(parse => Program.Guard(parse, stdout =>
        {
            var folder = parse.GetValue(model)!;
            var path = Path.Combine(folder, "README.md");
            if (File.Exists(path) && !File.ReadAllText(path).Contains("\n- nuansa\n", StringComparison.Ordinal) && !parse.GetValue(force))
                throw new NuansaException($"{path} exists and was not written by Nuansa; use --force to replace it.");
            var card = ModelCard.Write(folder, new ModelCardOptions
            {
                EvaluationDirectory = parse.GetValue(eval),
                Languages = parse.GetValue(language) is { } l ? CliParsing.List(l) : [],
                License = parse.GetValue(license)!,
                Datasets = parse.GetValue(dataset) is { } d ? CliParsing.List(d) : [],
            });
            AtomicFile.WriteAllText(path, card);
            stdout.WriteLine($"wrote {path}");
            return 0;
        }));
        return command;
    }
}
