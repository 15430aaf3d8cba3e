using System.Globalization;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Microsoft.Playwright;
using Nuansa.Server;
using Nuansa.Tests.Cli;

namespace Nuansa.Tests.Server;

/// <summary>
/// A real browser — Debian's chromium, driven by Playwright — and two servers (one asking for an API key), shared by
/// the playground and report tests. Set NUANSA_SCREENSHOTS to a folder to keep a screenshot of each test.
/// </summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    public const string ApiKey = "s3cret-key";
    public static readonly string Chromium = Environment.GetEnvironmentVariable("NUANSA_CHROMIUM") ?? "/usr/bin/chromium";

    public TempDirectory Dir { get; } = new();
    public IPlaywright Playwright { get; private set; } = null!;
    public IBrowser Browser { get; private set; } = null!;
    public NuansaServer Open { get; private set; } = null!;
    public NuansaServer Locked { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        if (!File.Exists(Chromium))
            throw new InvalidOperationException($"No browser at {Chromium}: install Debian's chromium (apt-get install chromium; test.sh does) or set NUANSA_CHROMIUM.");
        // A relevancy-style gate (the 2-label model keeping "positive"), then the 5-label emotion model on the text alone, with an alert.
        File.WriteAllText(Dir.File("support.json"), $$"""
            {"steps": [{"name": "gate", "model": "{{SharedFiles.Model("bert-2label")}}", "keep": ["positive"], "min_score": 0.1},
                       {"name": "emotion", "model": "{{SharedFiles.Model("bert-5label-emotion-f16")}}", "input": "text"}],
             "alerts": [{"name": "escalate", "step": "emotion", "labels": {"Frustrasi": 0.01, "Marah": 0.5} } ] }
            """);
        var options = new ServerOptions
        {
            Models = [("sentiment", SharedFiles.Model("bert-2label")), ("pair", SharedFiles.Model("bert-pair-3label"))],
            Pipelines = [("support", Dir.File("support.json"))],
            Url = "http://127.0.0.1:0",
        };
        Open = NuansaServer.Create(options);
        await Open.StartAsync();
        Locked = NuansaServer.Create(options with { ApiKey = ApiKey });
        await Locked.StartAsync();
        Playwright = await Microsoft.Playwright.Playwright.CreateAsync();
        // Root in a container has no user namespaces for chromium's sandbox.
        Browser = await Playwright.Chromium.LaunchAsync(new() { ExecutablePath = Chromium, Headless = true, Args = ["--no-sandbox"] });
    }

    public async Task DisposeAsync()
    {
        await Browser.DisposeAsync();
        Playwright.Dispose();
        await Open.DisposeAsync();
        await Locked.DisposeAsync();
        Dir.Dispose();
    }

    /// <summary>A fresh page (its own context: no storage shared between tests) that fails the test on any script error.</summary>
    public async Task<(IPage Page, List<string> Errors)> NewPage(int width = 1000, int height = 900)
    {
        var context = await Browser.NewContextAsync(new() { ViewportSize = new() { Width = width, Height = height } });
        var page = await context.NewPageAsync();
        var errors = new List<string>();
        page.PageError += (_, e) => errors.Add(e);
        page.Console += (_, m) =>
        {
            if (m.Type == "error")
                errors.Add($"{m.Text} ({m.Location})");
        };
        return (page, errors);
    }

    public static async Task Screenshot(IPage page, string name)
    {
        if (Environment.GetEnvironmentVariable("NUANSA_SCREENSHOTS") is { Length: > 0 } folder)
        {
            Directory.CreateDirectory(folder);
            await page.ScreenshotAsync(new() { Path = Path.Combine(folder, name + ".png"), FullPage = true });
        }
    }
}

[Trait("Category", "Slow")]
public sealed class PlaygroundBrowserTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    private static async Task<JsonNode> Api(NuansaServer server, string path, string body, string? key = null)
    {
        using var client = new HttpClient { BaseAddress = new Uri(server.Addresses[0]) };
        if (key != null)
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        using var response = await client.PostAsync(path, new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
        response.EnsureSuccessStatusCode();
        return JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
    }

    // The labels and numbers a list of bars shows, in order.
    private static async Task<List<(string Label, string Score)>> Bars(ILocator list)
    {
        var names = await list.Locator(".name").AllTextContentsAsync();
        var values = await list.Locator(".value").AllTextContentsAsync();
        return [.. names.Zip(values)];
    }

    private static List<(string, string)> Expected(JsonNode labels) =>
        [.. labels.AsArray().Select(l => (l!["label"]!.GetValue<string>(), l["score"]!.GetValue<double>().ToString("0.0000", CultureInfo.InvariantCulture)))];

    [Fact]
    public async Task ClassifiesATextAndShowsTheApisScoresLatencyAndCurl()
    {
        var (page, errors) = await browser.NewPage();
        await page.GotoAsync(browser.Open.Addresses[0]);
        await page.GetByLabel("Model or pipeline").SelectOptionAsync("model:sentiment");
        await Assertions.Expect(page.Locator("#target-info")).ToContainTextAsync("2 labels");
        await page.GetByLabel("Text", new() { Exact = true }).FillAsync("what a lovely film, it's great");
        await page.GetByRole(AriaRole.Button, new() { Name = "Classify" }).ClickAsync();
        await Assertions.Expect(page.Locator("#latency")).ToContainTextAsync("Answered in");

        var api = await Api(browser.Open, "/models/sentiment/predict", """{"inputs": "what a lovely film, it's great", "truncate": true}""");
        Assert.Equal(Expected(api), await Bars(page.Locator("#results .scores")));
        // The bar of the best label is as wide as its score.
        var width = await page.Locator("#results .scores li.top .fill").EvaluateAsync<double>("e => e.getBoundingClientRect().width / e.parentElement.getBoundingClientRect().width");
        Assert.Equal(api[0]!["score"]!.GetValue<double>(), width, 2);
        var curl = await page.Locator("#curl").TextContentAsync();
        Assert.Contains($"{browser.Open.Addresses[0]}/models/sentiment/predict", curl);
        Assert.Contains("""-d '{"inputs":"what a lovely film, it'\''s great","truncate":true}'""", curl);
        await BrowserFixture.Screenshot(page, "playground-model");
        Assert.Empty(errors);
    }

    [Fact]
    public async Task APairModelGetsTheContextAndAPipelineShowsGatesStepsAndAlerts()
    {
        var (page, errors) = await browser.NewPage();
        await page.GotoAsync(browser.Open.Addresses[0]);
        await page.GetByLabel("Model or pipeline").SelectOptionAsync("model:pair");
        await page.GetByLabel("Context").FillAsync("the hotel");
        await page.GetByLabel("Text", new() { Exact = true }).FillAsync("the room was clean");
        await page.GetByRole(AriaRole.Button, new() { Name = "Classify" }).ClickAsync();
        await Assertions.Expect(page.Locator("#results .scores li")).ToHaveCountAsync(3);
        var api = await Api(browser.Open, "/models/pair/predict", """{"inputs": ["the hotel", "the room was clean"], "truncate": true}""");
        Assert.Equal(Expected(api), await Bars(page.Locator("#results .scores")));

        await page.GetByLabel("Model or pipeline").SelectOptionAsync("pipeline:support");
        await Assertions.Expect(page.Locator("#target-info")).ToContainTextAsync("gate (gate) → emotion");
        // The pair model's answer and curl line are gone with the switch: nothing shown belongs to another choice.
        await Assertions.Expect(page.Locator("#results > *")).ToHaveCountAsync(0);
        await Assertions.Expect(page.Locator("#request")).ToBeHiddenAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Run pipeline" }).ClickAsync();
        await Assertions.Expect(page.Locator("#results .step")).ToHaveCountAsync(2);
        var answer = await Api(browser.Open, "/pipelines/support", """{"inputs": ["the hotel", "the room was clean"], "truncate": true}""");
        var steps = page.Locator("#results .step");
        Assert.Equal(Expected(answer["steps"]!["gate"]!), await Bars(steps.Nth(0).Locator(".scores")));
        var kept = answer["stopped_at"] == null;
        await Assertions.Expect(steps.Nth(0).Locator(".badge")).ToHaveTextAsync(kept ? "gate passed" : "stopped here");
        if (kept)
            Assert.Equal(Expected(answer["steps"]!["emotion"]!), await Bars(steps.Nth(1).Locator(".scores")));
        else
            await Assertions.Expect(steps.Nth(1).Locator(".badge")).ToHaveTextAsync("not run");
        var raised = answer["alerts"]!.AsArray().Select(a => a!.GetValue<string>()).ToList();
        await Assertions.Expect(page.Locator("#results .alerts h2")).ToHaveTextAsync(raised.Count > 0 ? $"Alerts raised: {string.Join(", ", raised)}" : "No alert raised");
        await Assertions.Expect(page.Locator("#results .alerts li")).ToContainTextAsync("escalate (step emotion: Frustrasi ≥ 0.01 or Marah ≥ 0.5)");
        Assert.Contains("/pipelines/support", await page.Locator("#curl").TextContentAsync());
        await BrowserFixture.Screenshot(page, "playground-pipeline");
        Assert.True(errors.Count == 0, string.Join("\n", errors));
    }

    [Fact]
    public async Task WithAnApiKeyThePageAsksForItAndKeepsItInMemoryOnly()
    {
        var (page, errors) = await browser.NewPage();
        await page.GotoAsync(browser.Locked.Addresses[0]);
        var key = page.GetByLabel("API key");
        await Assertions.Expect(key).ToBeVisibleAsync();
        await key.FillAsync("wrong");
        await page.GetByRole(AriaRole.Button, new() { Name = "Use key" }).ClickAsync();
        await Assertions.Expect(page.Locator("#key-reason")).ToContainTextAsync("did not accept");
        await key.FillAsync(BrowserFixture.ApiKey);
        await key.PressAsync("Enter");
        await Assertions.Expect(page.Locator("#key-form")).ToBeHiddenAsync();
        await page.GetByLabel("Text", new() { Exact = true }).FillAsync("fine");
        await page.GetByRole(AriaRole.Button, new() { Name = "Classify" }).ClickAsync();
        await Assertions.Expect(page.Locator("#results .scores li")).ToHaveCountAsync(2);

        var stored = await page.EvaluateAsync<string>("() => JSON.stringify(localStorage) + JSON.stringify(sessionStorage) + document.cookie + document.body.innerHTML");
        Assert.DoesNotContain(BrowserFixture.ApiKey, stored, StringComparison.Ordinal);
        var curl = await page.Locator("#curl").TextContentAsync();
        Assert.Contains("Authorization: Bearer $NUANSA_API_KEY", curl);
        Assert.DoesNotContain(errors, e => !e.Contains("401", StringComparison.Ordinal)); // the refused key's request is logged by the browser
    }

    [Fact]
    public async Task At375PixelsNothingOverflowsAndTheKeyboardAloneWorks()
    {
        var (page, errors) = await browser.NewPage(375, 740);
        await page.GotoAsync(browser.Open.Addresses[0]);
        await Assertions.Expect(page.Locator("#target-info")).ToContainTextAsync("labels");
        // Tab from the top of the page: the model list, the context, the text, then the button.
        await page.Keyboard.PressAsync("Tab");
        Assert.Equal("target", await page.EvaluateAsync<string>("() => document.activeElement.id"));
        await page.Keyboard.PressAsync("Tab");
        await page.Keyboard.PressAsync("Tab");
        Assert.Equal("text", await page.EvaluateAsync<string>("() => document.activeElement.id"));
        await page.Keyboard.TypeAsync("a long text that wraps across the narrow screen of a phone without pushing anything sideways");
        await page.Keyboard.PressAsync("Tab");
        await page.Keyboard.PressAsync("Enter");
        await Assertions.Expect(page.Locator("#results .scores li")).ToHaveCountAsync(2);
        Assert.True(await page.EvaluateAsync<bool>("() => document.documentElement.scrollWidth <= 375"), "the page scrolls sideways at 375 px");
        // Every form field has a label.
        Assert.Equal(0, await page.EvaluateAsync<int>("() => [...document.querySelectorAll('input, select, textarea')].filter(e => e.labels.length === 0).length"));
        await BrowserFixture.Screenshot(page, "playground-375px");
        Assert.Empty(errors);
    }

    [Fact]
    public async Task TheHtmlReportOpensOfflineWithItsChartsAndTheConfusionMatrix()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("data.tsv"), "text\tlabel\ngood film\tpositive\nbad film\tnegative\nfine plot\tpositive\nawful plot\tnegative\nso so\tnegative\n");
        var (code, _, error) = CliRunner.Run("eval", "--model", SharedFiles.Model("bert-2label"), "--data", dir.File("data.tsv"), "--output", dir.File("eval"), "--bootstrap", "50");
        Assert.True(code == 0, error);
        var (page, errors) = await browser.NewPage();
        var requests = new List<string>();
        page.Request += (_, r) => requests.Add(r.Url);
        await page.GotoAsync(new Uri(dir.File("eval/report.html")).AbsoluteUri);

        // Nothing is fetched but the file itself: the charts are embedded and load.
        Assert.Equal([new Uri(dir.File("eval/report.html")).AbsoluteUri], requests.Where(u => !u.StartsWith("data:", StringComparison.Ordinal)));
        var images = page.Locator("img");
        Assert.Equal(File.ReadAllText(dir.File("eval/report.md")).Split("![").Length - 1, await images.CountAsync());
        Assert.True(await images.CountAsync() >= 3);
        Assert.True(await page.EvaluateAsync<bool>("() => [...document.images].every(i => i.complete && i.naturalWidth > 100 && i.src.startsWith('data:image/png;base64,'))"));
        // The confusion matrix is a table whose cells are the counts in metrics.json.
        var metrics = JsonNode.Parse(File.ReadAllText(dir.File("eval/metrics.json")))!;
        var matrix = metrics["confusion_matrix"]!["matrix"]!.AsArray().Select(r => r!.AsArray().Select(c => c!.ToString()).ToArray()).ToArray();
        var table = page.Locator("table", new() { HasText = "gold \\ predicted" });
        await Assertions.Expect(table).ToHaveCountAsync(1);
        for (var r = 0; r < matrix.Length; r++)
            Assert.Equal(matrix[r], (await table.Locator("tbody tr").Nth(r).Locator("td").AllTextContentsAsync()).Skip(1));
        var accuracy = metrics["accuracy"]!.GetValue<double>().ToString("0.0000", CultureInfo.InvariantCulture);
        await Assertions.Expect(page.Locator("table tr", new() { HasText = "accuracy" }).First).ToContainTextAsync(accuracy);
        await BrowserFixture.Screenshot(page, "report");
        Assert.Empty(errors);
    }

    [Fact]
    public async Task ThePagesFilesNeedNoKeyTheApiDoesAndNoPlaygroundMeansNone()
    {
        using var client = new HttpClient { BaseAddress = new Uri(browser.Locked.Addresses[0]) };
        using (var page = await client.GetAsync("/"))
        {
            Assert.Equal(System.Net.HttpStatusCode.OK, page.StatusCode);
            Assert.Contains("script-src 'self'", page.Headers.GetValues("Content-Security-Policy").Single());
        }
        using (var info = await client.GetAsync("/pipelines/support/info"))
            Assert.Equal(System.Net.HttpStatusCode.Unauthorized, info.StatusCode);
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", BrowserFixture.ApiKey);
        var steps = JsonNode.Parse(await client.GetStringAsync("/pipelines/support/info"))!;
        Assert.Equal(["positive"], steps["steps"]![0]!["keep"]!.AsArray().Select(l => l!.GetValue<string>()));
        Assert.Equal("text", steps["steps"]![1]!["input"]!.GetValue<string>());
        Assert.Equal(0.5, steps["alerts"]![0]!["labels"]!["Marah"]!.GetValue<double>());
        using (var missing = await client.GetAsync("/pipelines/nope/info"))
            Assert.Equal(System.Net.HttpStatusCode.NotFound, missing.StatusCode);

        await using var bare = NuansaServer.Create(new ServerOptions { Models = [("m", SharedFiles.Model("bert-2label"))], Url = "http://127.0.0.1:0", Playground = false });
        await bare.StartAsync();
        using var plain = new HttpClient { BaseAddress = new Uri(bare.Addresses[0]) };
        using var none = await plain.GetAsync("/");
        Assert.Equal(System.Net.HttpStatusCode.NotFound, none.StatusCode);
    }

    [Fact]
    public async Task UnderAnAppsPrefixThePageFindsItsFilesAndItsApi()
    {
        var (app, address) = await MapNuansaTests.StartApp(s => s.AddNuansa(new ServerOptions { Models = [("sentiment", SharedFiles.Model("bert-2label"))] }),
            a => a.MapNuansa("/nuansa"));
        await using var _ = app;

        var (page, errors) = await browser.NewPage();
        await page.GotoAsync(address + "/nuansa"); // redirected to /nuansa/
        Assert.EndsWith("/nuansa/", page.Url, StringComparison.Ordinal);
        await Assertions.Expect(page.Locator("#target-info")).ToContainTextAsync("2 labels");
        await page.GetByLabel("Text", new() { Exact = true }).FillAsync("fine");
        await page.GetByRole(AriaRole.Button, new() { Name = "Classify" }).ClickAsync();
        await Assertions.Expect(page.Locator("#results .scores li")).ToHaveCountAsync(2);
        Assert.Contains($"{address}/nuansa/models/sentiment/predict", await page.Locator("#curl").TextContentAsync());
        Assert.True(errors.Count == 0, string.Join("\n", errors));
        await app.StopAsync();
    }
}
