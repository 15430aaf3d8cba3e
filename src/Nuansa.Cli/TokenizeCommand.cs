using System.CommandLine;
using Nuansa.Tokenization;
using Nuansa.Inference;

namespace Nuansa.Cli;

/// <summary><c>nuansa tokenize --model DIR [--max-length N] [--truncation S] [--padding P] [--input F] [--output F]</c>.</summary>
internal static class TokenizeCommand
{
    public static Command Create(TextReader standardInput)
    {
        var model = new Option<string>("--model", "-m") { Description = "Checkpoint folder with tokenizer files.", Required = true };
        var maxLength = new Option<int?>("--max-length") { Description = "Length limit including special tokens (default: the model's limit)." };
        var truncation = new Option<string>("--truncation")
        {
            Description = "longest_first (default), only_first, only_second or do_not_truncate.",
            DefaultValueFactory = _ => "longest_first",
        };
        truncation.AcceptOnlyFromAmong("longest_first", "only_first", "only_second", "do_not_truncate");
        var padding = new Option<string>("--padding") { Description = "none (default), longest or max_length.", DefaultValueFactory = _ => "none" };
        padding.AcceptOnlyFromAmong("none", "longest", "max_length");
        var input = new Option<string?>("--input", "-i") { Description = "JSON Lines file of {\"text\": ..., \"text_pair\": ...} (default: standard input)." };
        var output = new Option<string?>("--output", "-o") { Description = "Where to write JSON Lines (default: standard output)." };
        var truncationSide = CliParsing.TruncationSideOption();
        var stride = new Option<int>("--stride") { Description = "With --return-overflowing-tokens: tokens each window repeats from the previous one.", DefaultValueFactory = _ => 0 };
        var overflowing = new Option<bool>("--return-overflowing-tokens") { Description = "A text longer than --max-length becomes several windows, one line each, with overflow_to_sample_mapping (HF's rule)." };
        var command = new Command("tokenize", "Encode texts or text pairs exactly as Hugging Face tokenizers do, as JSON Lines.")
        {
            model, maxLength, truncation, truncationSide, stride, overflowing, padding, input, output,
        };
        command.SetAction(parse => Program.Guard(parse, stdout =>
        {
            JsonLines.CheckOutput(parse.GetValue(output));
            var tokenizer = Tokenizer.Load(CliParsing.Model(parse, parse.GetValue(model)!));
            var options = new EncodeOptions
            {
                MaxLength = parse.GetValue(maxLength),
                Truncation = ParseTruncation(parse.GetValue(truncation)!),
                TruncationSide = CliParsing.TruncationSide(parse.GetValue(truncationSide)!),
                Padding = parse.GetValue(padding) switch { "longest" => PaddingStrategy.Longest, "max_length" => PaddingStrategy.MaxLength, _ => PaddingStrategy.DoNotPad },
            };
            var inputPath = parse.GetValue(input);
            var source = inputPath ?? "standard input";
            List<(string Text, string? TextPair, int Line)> records;
            using (var reader = JsonLines.OpenInput(inputPath, standardInput))
                records = JsonLines.ReadTextRecords(reader, source);
            if (parse.GetValue(overflowing))
            {
                // One line per window, as HF's BatchEncoding with return_overflowing_tokens: overflow_to_sample_mapping is the input line (from 0).
                var windows = new List<(Nuansa.Tokenization.Encoding Encoding, int Sample)>();
                for (var i = 0; i < records.Count; i++)
                {
                    try
                    {
                        windows.AddRange(tokenizer.EncodeWindows(records[i].Text, records[i].TextPair, options.MaxLength ?? tokenizer.ModelMaxLength, parse.GetValue(stride)).Select(w => (w, i)));
                    }
                    catch (TokenizationException e)
                    {
                        throw new NuansaException($"{source}, line {records[i].Line}: {e.Message}");
                    }
                }
                var longest = windows.Count == 0 ? 0 : windows.Max(w => w.Encoding.Length);
                var padTo = options.Padding switch { PaddingStrategy.MaxLength => options.MaxLength ?? tokenizer.ModelMaxLength, PaddingStrategy.Longest => longest, _ => 0 };
                JsonLines.WriteOutput(parse.GetValue(output), Format([.. windows.Select(w => padTo > 0 ? w.Encoding.PadTo(padTo, tokenizer.PadTokenId, tokenizer.PadToken) : w.Encoding)],
                    [.. windows.Select(w => w.Sample)]), stdout);
                return 0;
            }
            if (parse.GetValue(stride) != 0)
                throw new NuansaException("--stride goes with --return-overflowing-tokens.");
            IReadOnlyList<Nuansa.Tokenization.Encoding> encodings;
            try
            {
                encodings = tokenizer.EncodeBatch([.. records.Select(r => (r.Text, r.TextPair))], options);
            }
            catch (TokenizationException e) when (e.Index is { } index)
            {
                throw new NuansaException($"{source}, line {records[index].Line}: {e.Message[(e.Message.IndexOf(": ", StringComparison.Ordinal) + 2)..]}");
            }
            JsonLines.WriteOutput(parse.GetValue(output), Format(encodings), stdout);
            return 0;
        }));
        return command;
    }

    internal static TruncationStrategy ParseTruncation(string name) => name switch
    {
        "only_first" => TruncationStrategy.OnlyFirst,
        "only_second" => TruncationStrategy.OnlySecond,
        "do_not_truncate" => TruncationStrategy.DoNotTruncate,
        _ => TruncationStrategy.LongestFirst,
    };

    private static string Format(IReadOnlyList<Nuansa.Tokenization.Encoding> encodings, int[]? samples = null) => ClassificationJson.Lines(encodings.Select((e, i) => (e, i)), (json, item) =>
    {
        var e = item.e;
        json.WriteStartObject();
        JsonLines.WriteNumbers(json, "input_ids", e.Ids);
        JsonLines.WriteNumbers(json, "token_type_ids", e.TypeIds);
        JsonLines.WriteNumbers(json, "attention_mask", e.AttentionMask);
        json.WriteStartArray("tokens");
        foreach (var t in e.Tokens)
            json.WriteStringValue(t);
        json.WriteEndArray();
        if (samples != null)
            json.WriteNumber("overflow_to_sample_mapping", samples[item.i]);
        json.WriteEndObject();
    });
}
