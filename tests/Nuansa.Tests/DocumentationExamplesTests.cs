using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace Nuansa.Tests;

/// <summary>
/// Every C# block of the README (and of docs/, when it has any) compiles as written against the built assemblies:
/// each block is a complete program (its usings, its top-level statements), so a reader can paste it.
/// </summary>
public partial class DocumentationExamplesTests
{
    [GeneratedRegex(@"```csharp\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex CSharpBlock();

    public static TheoryData<string, int> Blocks()
    {
        var data = new TheoryData<string, int>();
        foreach (var file in Documents())
        {
            var count = CSharpBlock().Matches(File.ReadAllText(file)).Count;
            for (var i = 0; i < count; i++)
                data.Add(Path.GetRelativePath(SharedFiles.Repository, file), i);
        }
        return data;
    }

    private static IEnumerable<string> Documents()
    {
        yield return Path.Combine(SharedFiles.Repository, "README.md");
        var docs = Path.Combine(SharedFiles.Repository, "docs");
        if (Directory.Exists(docs))
        {
            foreach (var file in Directory.GetFiles(docs, "*.md", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
                yield return file;
        }
    }

    [Theory]
    [MemberData(nameof(Blocks))]
    public void EveryCSharpExampleCompiles(string document, int index)
    {
        var code = CSharpBlock().Matches(File.ReadAllText(Path.Combine(SharedFiles.Repository, document)))[index].Groups[1].Value;
        // The framework this test runs on (the .NET and ASP.NET Core shared frameworks) and Nuansa's own assemblies.
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Where(p => p.EndsWith(".dll", StringComparison.Ordinal))
            .Select(p => MetadataReference.CreateFromFile(p));
        var parse = new CSharpParseOptions(LanguageVersion.Latest);
        var tree = CSharpSyntaxTree.ParseText(code, parse, path: $"{document} block {index + 1}");
        // The implicit usings of a project made by `dotnet new console` (ImplicitUsings enabled), as a reader's would be.
        var implicitUsings = CSharpSyntaxTree.ParseText(string.Concat(new[] { "System", "System.Collections.Generic", "System.IO", "System.Linq", "System.Net.Http",
            "System.Threading", "System.Threading.Tasks" }.Select(n => $"global using {n};\n")), parse);
        var compilation = CSharpCompilation.Create($"Example{index}", [tree, implicitUsings], references,
            new CSharpCompilationOptions(OutputKind.ConsoleApplication, nullableContextOptions: NullableContextOptions.Enable));
        var errors = compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).Select(d => d.ToString()).ToArray();
        Assert.True(errors.Length == 0, $"{document}, C# block {index + 1} does not compile:\n{string.Join("\n", errors.Take(10))}\n---\n{code}");
    }
}
