using System.CommandLine;
using Nuansa.Models;

namespace Nuansa.Cli;

/// <summary><c>nuansa export --model DIR --output DIR [--layout optimum|transformers.js] [--quantize int8]</c>.</summary>
internal static class ExportCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model", "-m") { Description = "Checkpoint folder.", Required = true };
        var output = new Option<string>("--output", "-o") { Description = "Folder to write model.onnx, config and tokenizer files to.", Required = true };
        var layout = new Option<string>("--layout")
        {
            Description = "optimum (model.onnx beside config.json, as ORTModelForSequenceClassification loads it) or transformers.js (onnx/model.onnx).",
            DefaultValueFactory = _ => "optimum",
        };
        layout.AcceptOnlyFromAmong("optimum", "transformers.js");
        var precision = PrecisionOptions.ForExport();
        var command = new Command("export", "Write the model as ONNX (inputs input_ids, attention_mask[, token_type_ids]; output logits) with its config and tokenizer files.")
        {
            model, output, layout, precision.Quantize, precision.Int8Weights,
        };
        command.SetAction(parse => Program.Guard(parse, stdout =>
        {
            if (Path.GetFullPath(parse.GetValue(model)!).TrimEnd('/') == Path.GetFullPath(parse.GetValue(output)!).TrimEnd('/'))
                throw new NuansaException("--output must be another folder than --model; nothing in the checkpoint folder is overwritten.");
            // The output is checked before a Hub model is downloaded (and the export checks it again).
            AtomicFolder.CheckWritable(parse.GetValue(output)!);
            var result = OnnxExport.Export(CliParsing.Model(parse, parse.GetValue(model)!), parse.GetValue(output)!, new OnnxExportOptions
            {
                Layout = parse.GetValue(layout) == "transformers.js" ? OnnxLayout.TransformersJs : OnnxLayout.Optimum,
                Quantization = precision.Quantization(parse),
                Int8Weights = precision.Weights(parse),
            });
            stdout.WriteLine($"wrote {string.Join(" and ", result.Files)}");
            // The same words the file's metadata carries.
            if (result.Int8Weights is { } form)
                stdout.WriteLine($"int8 weights: {form} (recorded in the file's metadata)");
            return 0;
        }));
        return command;
    }
}
