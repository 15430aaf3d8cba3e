using System.CommandLine;
using Nuansa.Training;

namespace Nuansa.Cli;

/// <summary><c>nuansa init --model-type bert|distilbert|roberta --vocab F --labels a,b,c --output DIR [sizes] [--seed N]</c>.</summary>
internal static class InitCommand
{
    public static Command Create()
    {
        var modelType = new Option<string>("--model-type") { Description = "bert, distilbert or roberta.", Required = true };
        modelType.AcceptOnlyFromAmong("bert", "distilbert", "roberta");
        var vocab = new Option<string>("--vocab") { Description = "vocab.txt (BERT, DistilBERT) or vocab.json (RoBERTa, with --merges).", Required = true };
        var merges = new Option<string?>("--merges") { Description = "merges.txt for a RoBERTa vocabulary." };
        var labels = new Option<string>("--labels") { Description = "Comma-separated label names, in id order.", Required = true };
        var output = new Option<string>("--output", "-o") { Description = "New checkpoint folder (must not exist or be empty).", Required = true };
        var hidden = new Option<int?>("--hidden-size") { Description = "Default: the base model's (768)." };
        var layers = new Option<int?>("--num-hidden-layers") { Description = "Default: 12 (DistilBERT: 6)." };
        var heads = new Option<int?>("--num-attention-heads") { Description = "Default: 12." };
        var intermediate = new Option<int?>("--intermediate-size") { Description = "Default: 4 × hidden size." };
        var positions = new Option<int?>("--max-position-embeddings") { Description = "Default: 512 (RoBERTa: 514)." };
        var problemType = new Option<string?>("--problem-type") { Description = "single_label_classification, multi_label_classification or regression." };
        var cased = new Option<bool>("--cased") { Description = "Keep case (WordPiece vocabularies are lower-cased by default)." };
        var seed = new Option<int>("--seed") { Description = "Seed of the random initialization.", DefaultValueFactory = _ => 42 };
        var command = new Command("init", "Create a randomly initialized Hugging Face classifier checkpoint (HF's initialization) to train from scratch.")
        {
            modelType, vocab, merges, labels, output, hidden, layers, heads, intermediate, positions, problemType, cased, seed,
        };
        command.SetAction(parse => Program.Guard(parse, stdout =>
        {
            var options = new NewModelOptions
            {
                ModelType = parse.GetValue(modelType)!,
                Labels = [.. parse.GetValue(labels)!.Split(',').Select(l => l.Trim())],
                HiddenSize = parse.GetValue(hidden),
                NumHiddenLayers = parse.GetValue(layers),
                NumAttentionHeads = parse.GetValue(heads),
                IntermediateSize = parse.GetValue(intermediate),
                MaxPositionEmbeddings = parse.GetValue(positions),
                ProblemType = parse.GetValue(problemType),
                Seed = parse.GetValue(seed),
            };
            var config = ModelInitializer.CreateCheckpoint(options, parse.GetValue(vocab)!, parse.GetValue(merges), parse.GetValue(output)!, parse.GetValue(cased));
            stdout.WriteLine($"created {parse.GetValue(output)}: {config.ModelType}, {config.NumHiddenLayers} layers, hidden {config.HiddenSize}, {config.NumLabels} labels");
            return 0;
        }));
        return command;
    }
}
