using System.CommandLine;
using Nuansa.Checkpoints;
using Nuansa.Graphs.Onnx;
using Nuansa.Models;

namespace Nuansa.Cli;

/// <summary><c>nuansa export --model DIR --output DIR [--layout optimum|transformers.js] [--quantize int8]</c>.</summary>
internal static class ExportCommand
{
    private static readonly string[] CopiedFiles =
    [
        "config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
        "vocab.txt", "vocab.json", "merges.txt", "sentencepiece.bpe.model",
    ];

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
            var target = Path.GetFullPath(parse.GetValue(output)!);
            if (Path.GetFullPath(parse.GetValue(model)!).TrimEnd('/') == target.TrimEnd('/'))
                throw new NuansaException("--output must be another folder than --model; nothing in the checkpoint folder is overwritten.");
            AtomicFolder.CheckWritable(target);
            var source = Path.GetFullPath(CliParsing.Model(parse, parse.GetValue(model)!));
            var config = ModelConfig.Load(source);
            var quantization = precision.Quantization(parse);
            // Optimum's quantizer and transformers.js both name the int8 file model_quantized.onnx.
            var fileName = quantization == Quantization.Int8 ? "model_quantized.onnx" : "model.onnx";
            var relative = parse.GetValue(layout) == "transformers.js" ? Path.Combine("onnx", fileName) : fileName;
            IReadOnlyList<string> written = [];
            IReadOnlyDictionary<string, string> metadata = new Dictionary<string, string>();
            // The folder appears complete or not at all, like init's, train's and eval's.
            AtomicFolder.Write(target, staging =>
            {
                Graphs.Graph graph;
                using (var weights = WeightStore.Open(source))
                    graph = SequenceClassifier.Build(config, weights, new GraphOptions { Quantization = quantization, Int8Weights = precision.Weights(parse) });
                written = OnnxWriter.Write(Path.Combine(staging, relative), graph);
                metadata = graph.Metadata;
                foreach (var name in CopiedFiles.Where(n => File.Exists(Path.Combine(source, n))))
                    File.Copy(Path.Combine(source, name), Path.Combine(staging, name));
            });
            stdout.WriteLine($"wrote {string.Join(" and ", written.Select(w => Path.Combine(target, Path.GetDirectoryName(relative) ?? "", Path.GetFileName(w))))}");
            // The same words the file's metadata carries.
            if (metadata.TryGetValue("nuansa.int8_weights", out var form))
                stdout.WriteLine($"int8 weights: {form} (recorded in the file's metadata)");
            return 0;
        }));
        return command;
    }
}
