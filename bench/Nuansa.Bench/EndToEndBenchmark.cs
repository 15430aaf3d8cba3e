using System.Diagnostics;
using System.Globalization;
using Nuansa.Graphs.Onnx;
using Nuansa.Inference;
using Nuansa.Models;

namespace Nuansa.Bench;

/// <summary>
/// Classifying real text end to end — tokenize, batch, forward — against the way HF users run the same model:
/// ONNX Runtime on a torch.onnx.export of it, with texts tokenized by HF's Rust tokenizer (bench/e2e.sh runs the npm
/// binding first and passes its encodings and time), batches of 32 in input order padded to their longest. Nuansa
/// float32, the baseline's forward passes and Nuansa int8 take turns over the whole set in this process, on the same
/// host state; the median of the repeats is reported.
/// </summary>
internal static class EndToEndBenchmark
{
    public static int Run(string model, string anchor, string textsFile, string encodingsFile, double baselineTokenizeSeconds, int threads, int repeats, string name)
    {
        var texts = File.ReadAllLines(textsFile).Select(t => new TextInput(t)).ToArray();
        var batches = ReadEncodings(encodingsFile);
        // Spinning off for both: two sessions taking turns on the same cores otherwise slow each other down (see Batch1Study).
        using var baseline = new OnnxSession(File.ReadAllBytes(anchor), new SessionSettings { IntraOpThreads = threads, AllowSpinning = false });
        void Baseline(int count)
        {
            foreach (var (rows, length, ids, mask) in batches.Take(count))
                baseline.Run(new Dictionary<string, long[]> { ["input_ids"] = ids, ["attention_mask"] = mask, ["token_type_ids"] = new long[ids.Length] }, [rows, length], ["logits"]);
        }
        var options = new ClassifyOptions { MaxLength = 512, BatchSize = 32, TopK = null };
        using var fp32 = TextClassifier.Load(model, new TextClassifierOptions { Threads = threads, AllowSpinning = false });
        using var int8 = TextClassifier.Load(model, new TextClassifierOptions { Threads = threads, Quantization = Quantization.Int8, AllowSpinning = false });
        // Warm-up on the first two batches' worth; then the three take turns on the whole set, each repeat.
        Baseline(2);
        fp32.ClassifyBatch(texts.Take(64).ToArray(), options);
        int8.ClassifyBatch(texts.Take(64).ToArray(), options);
        var medians = Program.MedianTurns(repeats, () => fp32.ClassifyBatch(texts, options), () => Baseline(batches.Count), () => int8.ClassifyBatch(texts, options));
        var baselineTotal = medians[1] + baselineTokenizeSeconds;
        foreach (var (precision, ours) in new[] { ("fp32", medians[0]), ("int8", medians[2]) })
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"e2e {name} texts={texts.Length} nuansa_{precision}_s={ours:F2} baseline_s={baselineTotal:F2} (forward {medians[1]:F2} + tokenize {baselineTokenizeSeconds:F2}) " +
                $"texts_per_s nuansa={texts.Length / ours:F1} baseline={texts.Length / baselineTotal:F1} speedup={baselineTotal / ours:F2}"));
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"e2e {name} peak_working_set_mb={Process.GetCurrentProcess().PeakWorkingSet64 / 1e6:F0}"));
        return 0;
    }

    // The npm script's output: batch count, then per batch rows, length, ids and mask (int32, little-endian).
    private static List<(int Rows, int Length, long[] Ids, long[] Mask)> ReadEncodings(string path)
    {
        using var reader = new BinaryReader(File.OpenRead(path));
        var count = reader.ReadInt32();
        var batches = new List<(int, int, long[], long[])>(count);
        for (var b = 0; b < count; b++)
        {
            int rows = reader.ReadInt32(), length = reader.ReadInt32();
            long[] Read() => [.. Enumerable.Range(0, rows * length).Select(_ => (long)reader.ReadInt32())];
            var ids = Read();
            batches.Add((rows, length, ids, Read()));
        }
        return batches;
    }

    /// <summary>The texts of a data file's column, one per line (line breaks inside a text become spaces), for both sides.</summary>
    public static int WriteTexts(string dataFile, string column, int count, string output)
    {
        var rows = Reporting.TableReader.Read(dataFile);
        File.WriteAllLines(output, rows.Take(count).Select(r => r.Text(column, dataFile).ReplaceLineEndings(" ")));
        return 0;
    }

    /// <summary>
    /// bert-base-uncased's tokenizer.json (what HF's BertTokenizerFast saves) built from its vocab.txt by the library's
    /// own writer, so both sides tokenize from one definition: BertNormalizer (lower-case), BertPreTokenizer, WordPiece,
    /// [CLS] A [SEP] (B [SEP]).
    /// </summary>
    public static int WriteTokenizerJson(string vocabFile, string output)
    {
        var folder = Path.Combine(Path.GetTempPath(), "nuansa-bench-vocab-" + Environment.ProcessId);
        Directory.CreateDirectory(folder);
        try
        {
            File.Copy(vocabFile, Path.Combine(folder, "vocab.txt"), overwrite: true);
            File.WriteAllText(output, Tokenization.TokenizerFiles.WordPieceJson(folder));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
        return 0;
    }
}
