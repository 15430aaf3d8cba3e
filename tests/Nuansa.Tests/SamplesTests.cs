using System.Diagnostics;
using System.Text.Json.Nodes;
using Nuansa.Inference;

namespace Nuansa.Tests;

/// <summary>
/// The samples as a user builds them: against the packages `dotnet pack` makes, from a local feed
/// (artifacts/packages), never against the projects. Each run packs under a version of its own, so no package cached
/// by an earlier run can stand in.
/// </summary>
[Trait("Category", "Slow")]
public sealed class SamplesTests : IAsyncLifetime
{
    private static readonly string Model = SharedFiles.Model("bert-2label");
    private readonly string _version = $"0.1.0-test.{DateTime.UtcNow:yyyyMMddHHmmss}.{Environment.ProcessId}";

    public async Task InitializeAsync()
    {
        var feed = Path.Combine(SharedFiles.Repository, "artifacts", "packages");
        // The projects are built already (the tests reference them): pack what was built, under this run's version.
        foreach (var project in new[] { "Nuansa", "Nuansa.Reporting", "Nuansa.Server" })
            await Run(SharedFiles.Repository, "pack", Path.Combine("src", project, project + ".csproj"), "-c", "Release", "--no-build", $"-p:Version={_version}", "-o", feed);
    }

    public Task DisposeAsync()
    {
        foreach (var package in Directory.GetFiles(Path.Combine(SharedFiles.Repository, "artifacts", "packages"), $"*.{_version}.*nupkg"))
            File.Delete(package);
        return Task.CompletedTask;
    }

    private static async Task<string> Run(string folder, params string[] args)
    {
        var start = new ProcessStartInfo(CliProcess.Dotnet) { WorkingDirectory = folder, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
            start.ArgumentList.Add(a);
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(5));
        Assert.True(process.ExitCode == 0, $"dotnet {string.Join(' ', args)}:\n{await output}\n{await error}");
        return await output;
    }

    private string Build(string sample)
    {
        var folder = Path.Combine(SharedFiles.Repository, "samples", sample);
        Run(folder, "build", "-c", "Release", $"-p:NuansaVersion={_version}").GetAwaiter().GetResult();
        return Path.Combine(folder, "bin", "Release", "net10.0", sample + ".dll");
    }

    [Fact]
    public async Task TheConsoleSampleClassifiesWithTheCorePackageAlone()
    {
        var dll = Build("ConsoleApp");
        var assets = File.ReadAllText(Path.Combine(Path.GetDirectoryName(dll)!, "..", "..", "..", "obj", "project.assets.json"));
        Assert.Contains($"\"Nuansa/{_version}\"", assets);
        // An inference-only app gets no charting, CSV or web libraries.
        foreach (var heavy in new[] { "ScottPlot", "SkiaSharp", "CsvHelper", "Markdig" })
            Assert.False(File.Exists(Path.Combine(Path.GetDirectoryName(dll)!, heavy + ".dll")), heavy);

        var output = await Run(Path.GetDirectoryName(dll)!, dll, Model, "what a great film");
        using var classifier = TextClassifier.Load(Model);
        var top = classifier.Classify("what a great film").Top;
        Assert.Contains(FormattableString.Invariant($"{top.Label}\t{top.Score:0.0000}\twhat a great film"), output);
    }

    [Fact]
    public async Task TheWebSampleServesItsOwnEndpointNuansasApiAndHealth()
    {
        var dll = Build("WebApp");
        // A free port, then the app is polled until it answers (its log goes to a buffer drained as it comes).
        int port;
        using (var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
        }
        var address = $"http://127.0.0.1:{port}";
        var start = new ProcessStartInfo(CliProcess.Dotnet) { WorkingDirectory = Path.GetDirectoryName(dll)!, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { dll, "--Model", Model, "--urls", address })
            start.ArgumentList.Add(a);
        var log = new System.Text.StringBuilder();
        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            using var client = new HttpClient { BaseAddress = new Uri(address), Timeout = TimeSpan.FromSeconds(30) };
            string? health = null;
            for (var attempt = 0; attempt < 300 && health == null && !process.HasExited; attempt++)
            {
                try
                {
                    health = await client.GetStringAsync("/healthz");
                }
                catch (HttpRequestException)
                {
                    await Task.Delay(200);
                }
            }
            Assert.True(health == "Healthy", $"the web sample did not come up healthy ({health}):\n{log}");
            using var classifier = TextClassifier.Load(Model);
            var top = classifier.Classify("lovely").Top;
            var review = JsonNode.Parse(await client.GetStringAsync("/review?text=lovely"))!;
            Assert.Equal(top.Label, review["label"]!.GetValue<string>());
            Assert.Equal(top.Score, review["score"]!.GetValue<float>(), 5);
            using var predict = await client.PostAsync("/nuansa/predict", new StringContent("""{"inputs": "lovely"}""", System.Text.Encoding.UTF8, "application/json"));
            var labels = JsonNode.Parse(await predict.Content.ReadAsStringAsync())!.AsArray();
            Assert.Equal(top.Label, labels[0]!["label"]!.GetValue<string>());
            Assert.Contains("Nuansa playground", await client.GetStringAsync("/nuansa/"));
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }
}
