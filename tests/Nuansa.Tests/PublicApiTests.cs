using System.Reflection;
using PublicApiGenerator;

namespace Nuansa.Tests;

/// <summary>
/// Each package's public API, compared with the baseline checked in under api/: a change to the surface users build
/// against shows in review as a change to that file. After an intended change, run the tests with
/// NUANSA_UPDATE_API=1 to rewrite the baseline, and commit it.
/// </summary>
public class PublicApiTests
{
    public static TheoryData<string> Packages() => ["Nuansa", "Nuansa.Reporting", "Nuansa.Server", "Nuansa.Redis"];

    [Theory]
    [MemberData(nameof(Packages))]
    public void ThePublicApiIsTheBaseline(string package)
    {
        var assembly = Assembly.Load(package);
        // Compiler-generated state machine names change with unrelated edits: not part of the API.
        var api = assembly.GeneratePublicApi(new ApiGeneratorOptions
        {
            IncludeAssemblyAttributes = false,
            ExcludeAttributes = ["System.Runtime.CompilerServices.AsyncIteratorStateMachineAttribute", "System.Runtime.CompilerServices.AsyncStateMachineAttribute"],
        }).ReplaceLineEndings("\n");
        var baseline = Path.Combine(SharedFiles.Repository, "api", package + ".txt");
        if (Environment.GetEnvironmentVariable("NUANSA_UPDATE_API") == "1")
        {
            Directory.CreateDirectory(Path.GetDirectoryName(baseline)!);
            File.WriteAllText(baseline, api);
        }
        Assert.True(File.Exists(baseline), $"No baseline {baseline}: run the tests with NUANSA_UPDATE_API=1 and commit api/.");
        var expected = File.ReadAllText(baseline).ReplaceLineEndings("\n");
        if (expected != api)
        {
            var diff = expected.Split('\n').Except(api.Split('\n')).Select(l => "- " + l).Concat(api.Split('\n').Except(expected.Split('\n')).Select(l => "+ " + l));
            Assert.Fail($"The public API of {package} changed (rewrite api/{package}.txt with NUANSA_UPDATE_API=1 if intended):\n{string.Join("\n", diff.Take(40))}");
        }
    }
}
