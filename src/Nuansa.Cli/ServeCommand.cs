using System.CommandLine;
using Nuansa.Models;
using Nuansa.Server;

namespace Nuansa.Cli;

/// <summary><c>nuansa serve --model DIR [--model NAME=DIR ...] [--pipeline NAME=FILE ...] [--port N] ...</c>: the HTTP server.</summary>
internal static class ServeCommand
{
    /// <summary>An IPv6 address goes in brackets in a URL.</summary>
    private static string UrlHost(string host) =>
        System.Net.IPAddress.TryParse(host, out var address) && address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{address}]" : host;

    public static Command Create()
    {
        var models = new Option<string[]>("--model", "-m")
        {
            Description = "Checkpoint folder to serve, as DIR or NAME=DIR; repeat for several (the first answers /predict).",
        };
        var pipelines = new Option<string[]>("--pipeline") { Description = "Pipeline file to serve at /pipelines/NAME, as FILE or NAME=FILE; repeatable." };
        var host = new Option<string>("--host") { Description = "IP address to listen on, or localhost (0.0.0.0 or :: for every interface).", DefaultValueFactory = _ => "127.0.0.1" };
        // Kestrel listens on every interface for a name it cannot bind to: only addresses and localhost are taken.
        host.Validators.Add(r =>
        {
            var value = r.GetValueOrDefault<string>();
            if (value != "localhost" && !System.Net.IPAddress.TryParse(value, out _))
                r.AddError($"--host must be an IP address or localhost, not '{value}' (0.0.0.0 listens on every interface).");
        });
        var port = new Option<int>("--port", "-p") { Description = "Port to listen on.", DefaultValueFactory = _ => 8080 };
        var precision = PrecisionOptions.ForRunning();
        var tasks = new TaskOptions();
        var threads = new Option<int>("--threads") { Description = "Threads per forward pass (0: all cores).", DefaultValueFactory = _ => 0 };
        var defaults = new ServerOptions();
        var maxBatch = new Option<int>("--max-batch-size") { Description = "Inputs per forward pass when requests are batched together.", DefaultValueFactory = _ => defaults.MaxBatchSize };
        var maxBatchTokens = CliParsing.MaxBatchTokensOption();
        var maxClientBatch = new Option<int>("--max-client-batch-size") { Description = "Inputs one request may send.", DefaultValueFactory = _ => defaults.MaxClientBatchSize };
        var maxConcurrent = new Option<int>("--max-concurrent-requests") { Description = "Requests in flight per model before new ones get 429.", DefaultValueFactory = _ => defaults.MaxConcurrentRequests };
        var maxInputChars = new Option<int?>("--max-input-chars") { Description = "Characters one input may hold, checked before tokenizing (default: 250 per token of the model's limit, as TEI)." };
        var shutdownTimeout = new Option<int>("--shutdown-timeout") { Description = "Seconds a stop waits for requests in flight; any still running then are cut off and the exit code is 1.", DefaultValueFactory = _ => (int)defaults.ShutdownTimeout.TotalSeconds };
        var apiKey = new Option<string?>("--api-key") { Description = "Require \"Authorization: Bearer KEY\" on every request but /health and /metrics (default: the NUANSA_API_KEY environment variable, if set)." };
        var noPlayground = new Option<bool>("--no-playground") { Description = "Serve no playground page at /." };
        var maxWindows = new Option<int>("--max-windows") { Description = "Windows one request may make with \"long_text\": \"chunk\", counted before any is built (beyond: 413).", DefaultValueFactory = _ => defaults.MaxWindows };
        var maxTokenizingChars = new Option<long>("--max-tokenizing-chars") { Description = "Characters being tokenized at once over every model (beyond: 429 with Retry-After).", DefaultValueFactory = _ => defaults.MaxTokenizingChars };
        var bodyTimeout = new Option<int>("--request-body-timeout") { Description = "Seconds a request body may take to arrive (beyond, or slower than 4 kB/s after 2 s: 408).", DefaultValueFactory = _ => (int)defaults.RequestBodyTimeout.TotalSeconds };
        var autoTruncate = new Option<bool>("--auto-truncate") { Description = "Truncate too-long inputs unless a request says otherwise (default: refuse them)." };
        var command = new Command("serve", "Serve classifiers over HTTP: POST /predict (text-embeddings-inference format), GET /info, /health, /metrics, and a playground page at /.")
        {
            models, pipelines, host, port, precision.Quantize, precision.Int8Weights, tasks.Tasks, tasks.TaskLabels, threads, maxBatch, maxBatchTokens, maxClientBatch, maxConcurrent, maxInputChars, maxWindows, maxTokenizingChars, bodyTimeout, shutdownTimeout, autoTruncate, apiKey, noPlayground,
        };
        // An asynchronous action: System.CommandLine turns Ctrl+C / SIGTERM into cancellation, and the server then
        // stops taking requests, finishes the ones it has, and exits 0.
        command.SetAction(async (parse, cancellationToken) =>
        {
            NuansaServer server;
            string[] names;
            try
            {
                var named = (parse.GetValue(models) ?? []).Select(Parse).Select(m => (m.Name, CliParsing.Model(parse, m.Path))).ToArray();
                var chains = (parse.GetValue(pipelines) ?? []).Select(p => Parse(p) is var (n, f) && n.EndsWith(".json", StringComparison.OrdinalIgnoreCase) ? (n[..^5], f) : (n, f)).ToArray();
                names = [.. named.Select(m => m.Name).Concat(chains.Select(p => "pipeline " + p.Item1))];
                server = NuansaServer.Create(new ServerOptions
                {
                    Models = named,
                    Pipelines = chains,
                    Url = $"http://{UrlHost(parse.GetValue(host)!)}:{parse.GetValue(port)}",
                    Quantization = precision.Quantization(parse),
                    Int8Weights = precision.Weights(parse),
                    Tasks = tasks.Read(parse),
                    Threads = parse.GetValue(threads),
                    MaxBatchSize = parse.GetValue(maxBatch),
                    MaxBatchTokens = CliParsing.MaxBatchTokens(parse, maxBatchTokens),
                    MaxClientBatchSize = parse.GetValue(maxClientBatch),
                    MaxConcurrentRequests = parse.GetValue(maxConcurrent),
                    MaxInputChars = parse.GetValue(maxInputChars),
                    MaxWindows = parse.GetValue(maxWindows),
                    MaxTokenizingChars = parse.GetValue(maxTokenizingChars),
                    RequestBodyTimeout = TimeSpan.FromSeconds(parse.GetValue(bodyTimeout)),
                    ShutdownTimeout = TimeSpan.FromSeconds(parse.GetValue(shutdownTimeout)),
                    AutoTruncate = parse.GetValue(autoTruncate),
                    Playground = !parse.GetValue(noPlayground),
                    // An environment variable keeps the key out of the process list.
                    ApiKey = parse.GetValue(apiKey) ?? Environment.GetEnvironmentVariable("NUANSA_API_KEY"),
                });
            }
            catch (Exception e) when (Program.Describe(e) is { } message)
            {
                await parse.InvocationConfiguration.Error.WriteLineAsync(Program.ErrorLine(message));
                return 1;
            }
            await using (server)
            {
                try
                {
                    await server.StartAsync(cancellationToken);
                }
                catch (IOException e)
                {
                    // Typically the port is taken: say so in one line.
                    await parse.InvocationConfiguration.Error.WriteLineAsync(Program.ErrorLine(e.Message));
                    return 1;
                }
                await parse.InvocationConfiguration.Output.WriteLineAsync($"serving {string.Join(", ", names)} on {string.Join(", ", server.Addresses)} (Ctrl+C stops)");
                if (precision.Quantization(parse) == Quantization.Int8)
                    await parse.InvocationConfiguration.Output.WriteLineAsync(Int8Kernels.Explain(Int8Kernels.Resolve(precision.Weights(parse))));
                // SIGTERM (docker stop, systemd) and SIGINT end the wait instead of the process: a clean stop, exit code 0.
                using var stop = CliParsing.StopOnSignals(cancellationToken);
                try
                {
                    await Task.Delay(Timeout.Infinite, stop.Token);
                }
                catch (OperationCanceledException)
                {
                    await parse.InvocationConfiguration.Output.WriteLineAsync("stopping");
                }
                // In-flight requests finish (up to --shutdown-timeout); any cut off make the stop a failure.
                var cutOff = await server.StopAsync();
                if (cutOff > 0)
                {
                    await parse.InvocationConfiguration.Error.WriteLineAsync($"error: {cutOff} request(s) were still running after {parse.GetValue(shutdownTimeout)} s and were cut off.");
                    return 1;
                }
            }
            return 0;
        });
        return command;
    }

    // NAME=PATH, or PATH named after its file or folder (a Hub id after its repository's name).
    private static (string Name, string Path) Parse(string value)
    {
        var equals = value.IndexOf('=', StringComparison.Ordinal);
        if (equals > 0 && !Path.Exists(value))
            return (value[..equals], value[(equals + 1)..]);
        if (!Path.Exists(value) && Hub.HubModels.TryParse(value, out var repo, out _))
            return (repo[(repo.IndexOf('/', StringComparison.Ordinal) + 1)..], value);
        return (Path.GetFileName(Path.GetFullPath(value).TrimEnd('/', '\\')), value);
    }
}
