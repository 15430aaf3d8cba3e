using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace Nuansa.Tests;

/// <summary>
/// The library's layers point one way — Checkpoints → Tokenization → Graphs → Models → Inference / Training →
/// Evaluation (with Data and Hub where they sit) — and a test fails on any new back edge: a file of a lower layer
/// naming a type of a higher one. The edges that exist today are listed as known debts (issue #26) so they can only
/// shrink.
/// </summary>
public class LayeringTests
{
    // Lower numbers are lower layers; a namespace may use its own layer and those below it.
    private static readonly Dictionary<string, int> Layers = new(StringComparer.Ordinal)
    {
        ["Nuansa"] = 0,
        ["Nuansa.Checkpoints"] = 1,
        ["Nuansa.Tokenization"] = 2,
        ["Nuansa.Hub"] = 3,
        ["Nuansa.Data"] = 3,
        ["Nuansa.Graphs"] = 4,
        ["Nuansa.Graphs.Onnx"] = 4,
        ["Nuansa.Graphs.Autodiff"] = 4,
        ["Nuansa.Models"] = 5,
        ["Nuansa.Inference"] = 6,
        ["Nuansa.Training"] = 6,
        ["Nuansa.Evaluation"] = 7,
        ["Microsoft.Extensions.DependencyInjection"] = 8,
    };

    // Back edges that exist today ("file → namespace it reaches up to"): to be removed, never added to.
    private static readonly HashSet<string> KnownDebts = new(StringComparer.Ordinal)
    {
        "Checkpoints/ModelConfig.cs → Nuansa.Models",
        "Models/Architecture.cs → Nuansa.Training",
        "Models/Bert.cs → Nuansa.Training",
        "Models/DistilBert.cs → Nuansa.Training",
        "Models/Roberta.cs → Nuansa.Training",
        "Tokenization/TokenizerLoader.cs → Nuansa.Models",
        "Training/Trainer.Evaluation.cs → Nuansa.Evaluation",
        "Training/Trainer.Output.cs → Nuansa.Evaluation",
        "Training/Trainer.cs → Nuansa.Evaluation",
    };

    [Fact]
    public void NoNewBackEdgesBetweenLayers()
    {
        var root = Path.Combine(SharedFiles.Repository, "src", "Nuansa");
        var files = Directory.GetFiles(root, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .ToArray();
        var parse = new CSharpParseOptions(LanguageVersion.Latest);
        var trees = files.Select(f => CSharpSyntaxTree.ParseText(File.ReadAllText(f), parse, path: Path.GetRelativePath(root, f))).ToArray();
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Where(p => p.EndsWith(".dll", StringComparison.Ordinal) && !Path.GetFileName(p).Equals("Nuansa.dll", StringComparison.Ordinal))
            .Select(p => MetadataReference.CreateFromFile(p));
        var compilation = CSharpCompilation.Create("NuansaLayers", trees, references, new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, allowUnsafe: true));
        var edges = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var tree in trees)
        {
            var model = compilation.GetSemanticModel(tree);
            var rootNode = tree.GetRoot();
            var own = rootNode.DescendantNodes().OfType<BaseNamespaceDeclarationSyntax>().FirstOrDefault()?.Name.ToString() ?? "Nuansa";
            if (!Layers.TryGetValue(own, out var level))
                continue;
            foreach (var name in rootNode.DescendantNodes().OfType<SimpleNameSyntax>())
            {
                var symbol = model.GetSymbolInfo(name).Symbol;
                var type = symbol as INamedTypeSymbol ?? symbol?.ContainingType;
                var ns = type?.ContainingNamespace?.ToDisplayString();
                if (ns != null && type!.ContainingAssembly?.Name == "NuansaLayers" && Layers.TryGetValue(ns, out var used) && used > level)
                    edges.Add($"{tree.FilePath.Replace('\\', '/')} → {ns}");
            }
        }
        var added = edges.Except(KnownDebts).ToArray();
        Assert.True(added.Length == 0, $"new back edges between layers:\n{string.Join("\n", added)}");
        var paid = KnownDebts.Except(edges).ToArray();
        Assert.True(paid.Length == 0, $"these back edges are gone: take them off KnownDebts:\n{string.Join("\n", paid)}");
    }
}
