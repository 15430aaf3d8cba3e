using Nuansa.Inference;
using Nuansa.Tokenization;

namespace Nuansa.Tests.Inference;

/// <summary>The one inference core on its own: its limits before any work, its batching, callers that leave, failures and health.</summary>
public class ClassificationQueueTests
{
    private static readonly string Model = SharedFiles.Model("bert-2label");

    /// <summary>Counts what the queue reports.</summary>
    private sealed class Counting : ClassificationQueueObserver
    {
        public int Batches;
        public int Tokenizations;
        public override void Batch(int inputs, int tokens) => Interlocked.Increment(ref Batches);
        public override void Tokenized(TimeSpan duration, IReadOnlyList<int> lengths) => Interlocked.Increment(ref Tokenizations);
    }

    [Fact]
    public async Task ItGivesTheClassifiersOwnScores()
    {
        await using var queue = new ClassificationQueue(TextClassifier.Load(Model));
        TextInput[] inputs = ["a fine film", "the worst plot I have ever sat through", TextInput.WithContext("acting", "wooden")];
        var expected = queue.Classifier.ClassifyBatch(inputs, new ClassifyOptions { TopK = null });
        var actual = await queue.ClassifyAsync(inputs, new ClassifyOptions { TopK = null });
        for (var i = 0; i < inputs.Length; i++)
        {
            for (var k = 0; k < expected[i].Logits.Count; k++)
                Assert.True(Math.Abs(expected[i].Logits[k] - actual[i].Logits[k]) <= 1e-5, $"input {i} logit {k}");
        }
        // Long texts in windows, as ClassifyBatch combines them.
        var longText = string.Join(" ", Enumerable.Repeat("a slow and tedious story that never ends", 60));
        var options = new ClassifyOptions { LongText = LongText.Chunk, Stride = 64, TopK = null };
        var windows = (await queue.ClassifyAsync([longText], options))[0];
        var direct = queue.Classifier.ClassifyBatch([longText], options)[0];
        Assert.Equal(direct.Windows!.Count, windows.Windows!.Count);
        Assert.True(Math.Abs(direct.Logits[0] - windows.Logits[0]) <= 1e-5);
    }

    [Fact]
    public async Task LimitsAreCheckedBeforeAnyWork()
    {
        var observer = new Counting();
        await using var queue = new ClassificationQueue(TextClassifier.Load(Model), new ClassificationQueueOptions { MaxInputs = 2, MaxInputChars = 100, MaxWindows = 4, Observer = observer });
        async Task<FailureKind> Kind(IReadOnlyList<TextInput> inputs, ClassifyOptions? options = null) =>
            (await Assert.ThrowsAsync<ClassificationFailedException>(() => queue.ClassifyAsync(inputs, options))).Kind;
        Assert.Equal(FailureKind.Empty, await Kind([]));
        Assert.Equal(FailureKind.Empty, await Kind([""]));
        Assert.Equal(FailureKind.TooLarge, await Kind(["a", "b", "c"]));
        Assert.Equal(FailureKind.Validation, await Kind([new string('a', 101)]));
        Assert.Equal(0, observer.Tokenizations);
        // Windows are counted before any is built: a stride that steps one token at a time makes hundreds.
        var e = await Assert.ThrowsAsync<ClassificationFailedException>(() => queue.ClassifyAsync([string.Join(" ", Enumerable.Repeat("word", 20))],
            new ClassifyOptions { LongText = LongText.Chunk, MaxLength = 8, Stride = 5 }));
        Assert.Equal(FailureKind.TooLarge, e.Kind);
        Assert.Contains("more than the 4 left", e.Message, StringComparison.Ordinal);
        // Without truncation, an input past the model's length is refused before its forward pass.
        var tooLong = await Assert.ThrowsAsync<ClassificationFailedException>(() => queue.ClassifyAsync([string.Join(" ", Enumerable.Repeat("w", 99))],
            new ClassifyOptions { Truncation = TruncationStrategy.DoNotTruncate, MaxLength = 16 }));
        Assert.Equal(FailureKind.Validation, tooLong.Kind);
        Assert.Equal(0, observer.Batches);
    }

    [Fact]
    public async Task TheCharactersBeingTokenizedAreBounded()
    {
        var budget = new CharacterBudget(100);
        await using var queue = new ClassificationQueue(TextClassifier.Load(Model), new ClassificationQueueOptions { Tokenizing = budget });
        Assert.True(budget.TryTake(60));
        var e = await Assert.ThrowsAsync<ClassificationFailedException>(() => queue.ClassifyAsync([new string('a', 50)]));
        Assert.Equal(FailureKind.Overloaded, e.Kind);
        budget.Return(60);
        Assert.Single(await queue.ClassifyAsync([new string('a', 50)]));
        // One submission larger than the whole budget still runs, alone.
        Assert.Single(await queue.ClassifyAsync([new string('a', 150)]));
        Assert.Equal(0, budget.InUse);
    }

    [Fact]
    public async Task SubmissionsPastTheConcurrencyLimitAreOverloaded()
    {
        await using var queue = new ClassificationQueue(TextClassifier.Load(Model), new ClassificationQueueOptions { MaxConcurrent = 1 });
        // The first takes its place as it is called (before its first await); the second finds none.
        var first = queue.ClassifyAsync([string.Join(" ", Enumerable.Repeat("a long enough text", 200))], new ClassifyOptions { LongText = LongText.Chunk });
        var e = await Assert.ThrowsAsync<ClassificationFailedException>(() => queue.ClassifyAsync(["second"]));
        Assert.Equal(FailureKind.Overloaded, e.Kind);
        Assert.Single(await first);
        Assert.Single(await queue.ClassifyAsync(["third"]));
    }

    [Fact]
    public async Task ACallerThatLeftGetsNoForwardPass()
    {
        var observer = new Counting();
        await using var queue = new ClassificationQueue(TextClassifier.Load(Model), new ClassificationQueueOptions { Observer = observer });
        using var gone = new CancellationTokenSource();
        await gone.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => queue.ClassifyAsync(["hello"], null, gone.Token));
        var encodings = queue.Classifier.Encode([new TextInput("hello")], new EncodeOptions());
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => queue.EnqueueAsync(encodings, gone.Token));
        Assert.Equal(0, observer.Batches);
        // A live caller still gets its pass, and health probes do not count as batches.
        Assert.Single(await queue.ClassifyAsync(["hello"]));
        Assert.Equal(1, observer.Batches);
        Assert.True((await queue.CheckHealthAsync(TimeSpan.Zero, TimeSpan.FromSeconds(10))).Healthy);
        Assert.Equal(1, observer.Batches);
    }

    [Fact]
    public async Task AModelThatFailsIsUnhealthyUntilAPassSucceeds()
    {
        await using var queue = new ClassificationQueue(TextClassifier.Load(Model));
        var encodings = queue.Classifier.Encode([new TextInput("hello")], new EncodeOptions());
        Assert.True((await queue.CheckHealthAsync(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(10))).Healthy);
        // A token id past the vocabulary makes the forward pass fail inside ONNX Runtime.
        var e = encodings[0];
        var broken = new Encoding([.. e.Ids.Select(_ => 10_000_000)], e.TypeIds, e.Tokens, e.Offsets, e.SpecialTokensMask, e.AttentionMask);
        var failure = await Assert.ThrowsAsync<ClassificationFailedException>(() => queue.EnqueueAsync([broken], CancellationToken.None));
        Assert.Equal(FailureKind.Backend, failure.Kind);
        var (healthy, error) = await queue.CheckHealthAsync(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(10));
        Assert.False(healthy);
        Assert.False(string.IsNullOrEmpty(error));
        Assert.Single(await queue.EnqueueAsync(encodings, CancellationToken.None));
        Assert.True((await queue.CheckHealthAsync(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(10))).Healthy);
    }

    [Fact]
    public async Task NaNLogitsAreABackendFailureAndMakeTheModelUnhealthy()
    {
        using var dir = new TempDirectory();
        await using var queue = new ClassificationQueue(TextClassifier.Load(NonFiniteOutputTests.BrokenModel(dir)));
        var e = await Assert.ThrowsAsync<ClassificationFailedException>(() => queue.ClassifyAsync(["fine"]));
        Assert.Equal(FailureKind.Backend, e.Kind);
        Assert.Contains("not finite", e.Message, StringComparison.Ordinal);
        Assert.False((await queue.CheckHealthAsync(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(10))).Healthy);
    }
}
