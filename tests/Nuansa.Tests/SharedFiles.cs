namespace Nuansa.Tests;

/// <summary>Locates the <c>shared</c> folder (fixtures, data) that sits beside the repository checkout.</summary>
public static class SharedFiles
{
    private static readonly Lazy<string> RootPath = new(FindRoot);
    private static readonly Lazy<string> RepositoryPath = new(FindRepository);

    public static string Root => RootPath.Value;

    /// <summary>The repository checkout the tests were built from (the folder with Nuansa.slnx).</summary>
    public static string Repository => RepositoryPath.Value;

    public static string Fixtures => Path.Combine(Root, "fixtures");

    public static string Model(string name) => Path.Combine(Fixtures, "models", name);

    public static IEnumerable<string> ModelNames =>
        ["bert-2label", "bert-2label-legacy-bin", "bert-5label-emotion-f16", "bert-multilabel-4-bf16",
         "bert-pair-3label", "distilbert-3label", "roberta-2label", "xlmr-3label"];

    /// <summary>A model fixture opened for a parity test: its config, its weights and HF's outputs (expected.safetensors).</summary>
    public static ModelFixture OpenFixture(string model)
    {
        var folder = Model(model);
        var store = Nuansa.Checkpoints.WeightStore.Open(folder);
        return new ModelFixture(Nuansa.Checkpoints.ModelConfig.Load(folder), store,
            Nuansa.Checkpoints.SafeTensorsFile.Open(Path.Combine(folder, "expected.safetensors")));
    }

    /// <summary>A model fixture's padded batch (expected.safetensors) as the graphs take it — token types only for families that use them — and its [batch, length] shape.</summary>
    public static (Dictionary<string, long[]> Inputs, long[] Shape) PaddedBatch(Nuansa.Checkpoints.SafeTensorsFile expected, Nuansa.Checkpoints.ModelConfig config)
    {
        var inputs = new Dictionary<string, long[]> { ["input_ids"] = expected.ReadInt64("input_ids"), ["attention_mask"] = expected.ReadInt64("attention_mask") };
        if (Nuansa.Models.Architecture.For(config).UsesTokenTypes)
            inputs["token_type_ids"] = expected.ReadInt64("token_type_ids");
        return (inputs, expected.GetInfo("input_ids").Shape.ToArray());
    }

    public static TheoryData<string> Models()
    {
        var data = new TheoryData<string>();
        foreach (var name in ModelNames)
            data.Add(name);
        return data;
    }

    private static string FindRoot()
    {
        // shared/ is the repository's sibling.
        var repository = new DirectoryInfo(Repository);
        var shared = Path.Combine(repository.Parent?.FullName ?? repository.FullName, "shared");
        if (!Directory.Exists(Path.Combine(shared, "fixtures")))
            throw new InvalidOperationException($"The shared folder with fixtures was not found at {shared}: check out the repository beside it (../shared).");
        return shared;
    }

    private static string FindRepository()
    {
        // Walk up from the test assembly to the repository root (the folder with Nuansa.slnx).
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Nuansa.slnx")))
                return dir.FullName;
        }
        throw new InvalidOperationException($"No Nuansa.slnx above {AppContext.BaseDirectory}; the tests must run from a checkout of the repository.");
    }
}

/// <summary>An opened model fixture (<see cref="SharedFiles.OpenFixture"/>); disposing it closes its files.</summary>
public sealed record ModelFixture(Nuansa.Checkpoints.ModelConfig Config, Nuansa.Checkpoints.WeightStore Store, Nuansa.Checkpoints.SafeTensorsFile Expected) : IDisposable
{
    public void Dispose()
    {
        Store.Dispose();
        Expected.Dispose();
    }
}
