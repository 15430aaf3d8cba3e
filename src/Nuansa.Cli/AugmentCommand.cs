using System.CommandLine;
using Nuansa.Data;
using Nuansa.Reporting;
using Nuansa.Inference;

namespace Nuansa.Cli;

/// <summary><c>nuansa augment --input F --output F.jsonl [--balance | --only-labels a,b] [--copies N] [--synonyms F]</c>.</summary>
internal static class AugmentCommand
{
    public static Command Create()
    {
        var input = new Option<string>("--input", "-i") { Description = "Labelled data: CSV, TSV or JSON Lines.", Required = true };
        var output = new Option<string>("--output", "-o") { Description = "JSON Lines file: every input row, then the variants (with \"augmented_from\": its line).", Required = true };
        var textColumn = new Option<string>("--text-column") { DefaultValueFactory = _ => "text" };
        var labelColumn = new Option<string>("--label-column") { DefaultValueFactory = _ => "label" };
        var copies = new Option<int>("--copies") { Description = "Variants per row at most.", DefaultValueFactory = _ => 4 };
        var balance = new Option<bool>("--balance") { Description = "Only smaller classes get variants, until each is as large as the largest (at most --copies per row)." };
        var onlyLabels = new Option<string?>("--only-labels") { Description = "Only rows with these labels get variants (comma-separated)." };
        var synonyms = new Option<string?>("--synonyms") { Description = "Synonyms table (TSV word<TAB>syn,syn or JSON) for the synonym and insert edits." };
        var alpha = new Option<double>("--alpha") { Description = "Share of words one edit touches.", DefaultValueFactory = _ => 0.1 };
        var ops = new Option<string>("--ops") { Description = "Edits to use: swap, delete, synonym, insert (comma-separated).", DefaultValueFactory = _ => "swap,delete,synonym,insert" };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 42 };
        var command = new Command("augment", "Add text variants (EDA: swap, delete, synonym, insert) for minority classes, as a JSON Lines training file.")
        {
            input, output, textColumn, labelColumn, copies, balance, onlyLabels, synonyms, alpha, ops, seed,
        };
        command.SetAction(parse => Program.Guard(parse, stdout =>
        {
            JsonLines.CheckOutput(parse.GetValue(output));
            var path = parse.GetValue(input)!;
            var rows = TableReader.Read(path);
            var textName = parse.GetValue(textColumn)!;
            var labelName = parse.GetValue(labelColumn)!;
            Data.DataColumns.Require(rows, path, (textName, "text"), (labelName, "label"));
            if (parse.GetValue(copies) < 1 || parse.GetValue(alpha) is <= 0 or >= 1)
                throw new NuansaException("--copies must be at least 1 and --alpha between 0 and 1.");
            if (parse.GetValue(balance) && parse.GetValue(onlyLabels) != null)
                throw new NuansaException("Give --balance or --only-labels, not both.");
            var operations = CliParsing.List(parse.GetValue(ops)!).Aggregate(AugmentOperations.None, (all, name) => all | name switch
            {
                "swap" => AugmentOperations.Swap,
                "delete" => AugmentOperations.Delete,
                "synonym" => AugmentOperations.Synonym,
                "insert" => AugmentOperations.Insert,
                _ => throw new NuansaException($"--ops: unknown edit '{name}' (swap, delete, synonym, insert)."),
            });
            var options = new AugmentOptions
            {
                Alpha = parse.GetValue(alpha),
                Operations = operations,
                Synonyms = parse.GetValue(synonyms) is { } file ? TextAugmentation.ReadSynonyms(file) : new Dictionary<string, string[]>(),
            };
            var label = rows.Select(r => r.Fields.TryGetValue(labelName, out var v) ? v.ToString() : throw new NuansaException($"{path}, line {r.Line}: no column \"{labelName}\".")).ToArray();
            var counts = label.GroupBy(l => l).ToDictionary(g => g.Key, g => g.Count());
            var wanted = parse.GetValue(onlyLabels) is { } only ? CliParsing.List(only).ToHashSet() : null;
            var missing = wanted?.FirstOrDefault(w => !counts.ContainsKey(w));
            if (missing != null)
                throw new NuansaException($"--only-labels: no row has label '{missing}'.");
            // Variants still needed per class (balance: up to the largest class).
            var needed = counts.ToDictionary(c => c.Key, c =>
                parse.GetValue(balance) ? counts.Values.Max() - c.Value : wanted == null || wanted.Contains(c.Key) ? int.MaxValue : 0);
            var random = new Random(parse.GetValue(seed));
            var added = new List<(DataRow Row, int Index, string Label, string Text)>();
            // Balancing visits rows in a seeded random order, so the variants spread over the class.
            foreach (var i in Enumerable.Range(0, rows.Count).OrderBy(_ => random.Next()).ToList())
            {
                var want = Math.Min(parse.GetValue(copies), needed[label[i]]);
                if (want <= 0)
                    continue;
                var variants = TextAugmentation.Variants(rows[i].Text(textName, path), want, options, random);
                needed[label[i]] -= variants.Count;
                added.AddRange(variants.Select(v => (rows[i], i, label[i], v)));
            }
            // augmented_from is the line of the source row in this output (the input rows come first, in order), so
            // `nuansa train` can keep a variant on its source's side of the train/validation split.
            var lines = ClassificationJson.Lines(rows.Select((r, i) => (Row: r, Index: i, Text: (string?)null)).Concat(added.Select(a => (a.Row, a.Index, Text: (string?)a.Text))), (json, x) =>
            {
                json.WriteStartObject();
                foreach (var (name, value) in x.Row.Fields)
                {
                    json.WritePropertyName(name);
                    if (x.Text != null && name == textName)
                        json.WriteStringValue(x.Text);
                    else
                        value.WriteTo(json);
                }
                if (x.Text != null)
                    json.WriteNumber("augmented_from", x.Index + 1);
                json.WriteEndObject();
            });
            JsonLines.WriteOutput(parse.GetValue(output), lines, stdout);
            stdout.WriteLine($"{rows.Count} rows + {added.Count} variants ({string.Join(", ", added.GroupBy(a => a.Label).Select(g => $"{g.Key}: {g.Count()}"))}) → {parse.GetValue(output)}");
            return 0;
        }));
        return command;
    }
}
