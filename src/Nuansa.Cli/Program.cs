using System.CommandLine;

namespace Nuansa.Cli;

/// <summary>The <c>nuansa</c> command: a thin layer that parses arguments and calls the library.</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        Console.OutputEncoding = new System.Text.UTF8Encoding(false);
        // Strict: input that is not UTF-8 is refused, never read with characters replaced.
        Console.InputEncoding = new System.Text.UTF8Encoding(false, throwOnInvalidBytes: true);
        return Run(args, Console.Out, Console.Error, Console.In);
    }

    /// <summary>Runs one command line with the given streams (used by the tests).</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error, TextReader? input = null)
    {
        var root = new RootCommand("Nuansa: fine-tune, evaluate, quantize and serve Hugging Face text classifiers in .NET.")
        {
            InspectCommand.Create(),
            DownloadCommand.Create(),
            TokenizeCommand.Create(input ?? TextReader.Null),
            ClassifyCommand.Create(input ?? TextReader.Null),
            PipelineCommand.Create(input ?? TextReader.Null),
            UncertainCommand.Create(input ?? TextReader.Null),
            ExportCommand.Create(),
            InitCommand.Create(),
            TrainCommand.Create(),
            AugmentCommand.Create(),
            EvalCommand.Create(),
            ThresholdsCommand.Create(),
            CardCommand.Create(),
            DemoCommand.Create(),
            ServeCommand.Create(),
            WorkerCommand.Create(),
        };
        AddRangeChecks(root);
        var configuration = new InvocationConfiguration { Output = output, Error = error };
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            // One line for the first mistake (System.CommandLine would print every error and the whole help).
            var first = parse.Errors[0];
            var option = first.SymbolResult switch
            {
                System.CommandLine.Parsing.OptionResult o => o.Option.Name,
                System.CommandLine.Parsing.ArgumentResult { Parent: System.CommandLine.Parsing.OptionResult o } => o.Option.Name,
                _ => null,
            };
            var message = string.Join(" ", first.Message.Split(['\n', '\r', '\t'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                .Replace("' '", "', '", StringComparison.Ordinal);
            var command = parse.CommandResult.Command == root ? "nuansa" : $"nuansa {parse.CommandResult.Command.Name}";
            error.WriteLine($"error: {(option != null && !message.Contains(option, StringComparison.Ordinal) ? option + ": " : "")}{message} ({command} --help lists the options)");
            return 1;
        }
        // InvokeAsync: asynchronous actions (serve) get Ctrl+C / SIGTERM as cancellation.
        return parse.InvokeAsync(configuration).GetAwaiter().GetResult();
    }

    /// <summary>Numbers that may be zero (seeds, counts of extra work, "0: all cores", "0: any free port").</summary>
    private static readonly HashSet<string> ZeroAllowed = ["--threads", "--seed", "--warmup-steps", "--bootstrap", "--port", "--copies", "--max-repeat", "--shutdown-timeout", "--stride", "--max-batch-tokens"];

    /// <summary>
    /// Every number option is checked while parsing, so a mistake is one line before any work: counts and sizes are at
    /// least 1 (at least 0 where 0 means something), ports at most 65535, and no number is NaN or infinite.
    /// </summary>
    private static void AddRangeChecks(Command command)
    {
        foreach (var option in command.Options)
        {
            var minimum = ZeroAllowed.Contains(option.Name) ? 0 : 1;
            switch (option)
            {
                case Option<int> o:
                    o.Validators.Add(r => CheckInt(r, o.Name, r.GetValueOrDefault<int>(), minimum));
                    break;
                case Option<int?> o:
                    o.Validators.Add(r => CheckInt(r, o.Name, r.GetValueOrDefault<int?>(), minimum));
                    break;
                case Option<double> o:
                    o.Validators.Add(r =>
                    {
                        if (!double.IsFinite(r.GetValueOrDefault<double>()))
                            r.AddError($"{o.Name} must be a finite number.");
                    });
                    break;
            }
        }
        foreach (var sub in command.Subcommands)
            AddRangeChecks(sub);
    }

    private static void CheckInt(System.CommandLine.Parsing.OptionResult result, string name, int? value, int minimum)
    {
        if (value < minimum)
            result.AddError($"{name} must be at least {minimum}, not {value}.");
        else if (name == "--port" && value > 65535)
            result.AddError($"--port must be a TCP port from 0 to 65535, not {value}.");
    }

    /// <summary>Runs a command body, turning user-fixable errors into one clear line and exit code 1.</summary>
    internal static int Guard(ParseResult parse, Func<TextWriter, int> body)
    {
        var output = parse.InvocationConfiguration.Output;
        try
        {
            return body(output);
        }
        catch (Exception e) when (Describe(e) is { } message)
        {
            parse.InvocationConfiguration.Error.WriteLine(ErrorLine(message));
            return 1;
        }
    }

    /// <summary>One line, whatever the message quotes (a JSON parser's excerpt of the bad input, say), and not a screenful.</summary>
    internal static string ErrorLine(string message)
    {
        message = message.ReplaceLineEndings(" ");
        return $"error: {(message.Length > 600 ? message[..600] + " …" : message)}";
    }

    /// <summary>
    /// The one line a failed command prints: the message of a mistake the user can fix (Nuansa's own errors, files
    /// that cannot be read or written), or for anything else its type and message, with the stack trace only when
    /// NUANSA_DEBUG is set.
    /// </summary>
    internal static string? Describe(Exception e) => e switch
    {
        NuansaException => e.Message,
        System.Text.DecoderFallbackException => "standard input is not valid UTF-8 text; nothing was written.",
        IOException or UnauthorizedAccessException => $"{e.Message.TrimEnd('.')}; nothing was written.",
        OperationCanceledException => null,
        _ when Environment.GetEnvironmentVariable("NUANSA_DEBUG") is { Length: > 0 } => null,
        _ => $"unexpected {e.GetType().Name}: {e.Message.ReplaceLineEndings(" ")} (a bug in Nuansa: please report it; NUANSA_DEBUG=1 shows the stack trace)",
    };
}
