using Nuansa.Checkpoints;
using Nuansa.Graphs.Onnx;

namespace Nuansa.Models;

/// <summary>Where an export puts the ONNX file: beside config.json (Optimum's <c>ORTModelForSequenceClassification</c>) or under <c>onnx/</c> (transformers.js).</summary>
public enum OnnxLayout
{
    /// <summary>model.onnx beside config.json, as Optimum's <c>ORTModelForSequenceClassification</c> loads it.</summary>
    Optimum,
    /// <summary>onnx/model.onnx, as transformers.js loads it.</summary>
    TransformersJs,
}

/// <summary>What an export writes.</summary>
public sealed record OnnxExportOptions
{
    /// <summary>Where the ONNX file goes.</summary>
    public OnnxLayout Layout { get; init; }
    /// <summary>Float32, or int8 linear layers (model_quantized.onnx).</summary>
    public Quantization Quantization { get; init; }
    /// <summary>Int8: the weight form, recorded in the file's metadata.</summary>
    public Int8Weights Int8Weights { get; init; }
}

/// <summary>What an export wrote: the ONNX file(s), and for int8 the weight form recorded in the file's metadata.</summary>
public sealed record OnnxExportResult(IReadOnlyList<string> Files, string? Int8Weights);

/// <summary>
/// Writes a checkpoint as an ONNX model (inputs <c>input_ids</c>, <c>attention_mask</c>[, <c>token_type_ids</c>];
/// output <c>logits</c>) with its config and tokenizer files, into a new folder that appears complete or not at all.
/// </summary>
public static class OnnxExport
{
    /// <summary>Exports <paramref name="modelDirectory"/> (a folder or Hub id) into the new folder <paramref name="outputDirectory"/>.</summary>
    public static OnnxExportResult Export(string modelDirectory, string outputDirectory, OnnxExportOptions? options = null)
    {
        options ??= new OnnxExportOptions();
        var target = Path.GetFullPath(outputDirectory);
        if (Path.GetFullPath(modelDirectory).TrimEnd('/') == target.TrimEnd('/'))
            throw new NuansaException("The output must be another folder than the model's; nothing in the checkpoint folder is overwritten.");
        AtomicFolder.CheckWritable(target);
        var source = Path.GetFullPath(Hub.HubModels.Resolve(modelDirectory));
        var config = ModelConfig.Load(source);
        // Optimum's quantizer and transformers.js both name the int8 file model_quantized.onnx.
        var fileName = options.Quantization == Quantization.Int8 ? "model_quantized.onnx" : "model.onnx";
        var relative = options.Layout == OnnxLayout.TransformersJs ? Path.Combine("onnx", fileName) : fileName;
        IReadOnlyList<string> written = [];
        string? form = null;
        AtomicFolder.Write(target, staging =>
        {
            Graphs.Graph graph;
            using (var weights = WeightStore.Open(source))
                graph = SequenceClassifier.Build(config, weights, new GraphOptions { Quantization = options.Quantization, Int8Weights = options.Int8Weights });
            written = OnnxWriter.Write(Path.Combine(staging, relative), graph);
            form = graph.Metadata.TryGetValue("nuansa.int8_weights", out var f) ? f : null;
            File.Copy(Path.Combine(source, "config.json"), Path.Combine(staging, "config.json"));
            Tokenization.TokenizerFiles.CopyTo(source, staging);
        });
        return new OnnxExportResult([.. written.Select(w => Path.Combine(target, Path.GetDirectoryName(relative) ?? "", Path.GetFileName(w)))], form);
    }
}
