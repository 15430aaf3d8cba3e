using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Parsing;

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
        // A plain command named as the tool is installed: a RootCommand takes its name from the executable, so help
        // under `dotnet run` would say "Nuansa.Cli".
        var root = new Command("nuansa", "Nuansa: fine-tune, evaluate, quantize and serve Hugging Face text classifiers in .NET.")
        {
            new HelpOption(),
            new VersionOption(),
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
        if (Mistyped(parse, root) is { } mistake)
        {
            error.WriteLine($"error: {mistake}");
            return 1;
        }
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

    /// <summary>
    /// A command name or an option that is not one, with the nearest valid name. System.CommandLine would take
    /// "--topk 2" as two more texts to classify, and answer a misspelled command with "Required command was not
    /// provided". Texts that start with a dash go after "--".
    /// </summary>
    private static string? Mistyped(ParseResult parse, Command root)
    {
        var command = parse.CommandResult.Command;
        if (command == root)
        {
            var first = parse.Tokens.FirstOrDefault();
            if (first is { Type: TokenType.Argument } && !first.Value.StartsWith('-'))
                return $"'{first.Value}' is not a nuansa command{Nearest(first.Value, root.Subcommands.Select(c => c.Name))} (nuansa --help lists them).";
            return first == null ? "give a command, such as nuansa demo (nuansa --help lists them)." : null;
        }
        var afterDashes = false;
        var taken = command.Arguments.SelectMany(a => parse.GetResult(a)?.Tokens ?? []).ToList();
        foreach (var token in parse.Tokens)
        {
            afterDashes |= token.Type == TokenType.DoubleDash;
            if (afterDashes || token.Type != TokenType.Argument || token.Value.Length < 2 || token.Value[0] != '-' || char.IsAsciiDigit(token.Value[1]) || token.Value[1] == '.')
                continue;
            if (taken.Any(t => ReferenceEquals(t, token)) || parse.UnmatchedTokens.Contains(token.Value))
            {
                var names = command.Options.SelectMany(o => o.Aliases.Prepend(o.Name)).Where(n => n.StartsWith("--", StringComparison.Ordinal));
                return $"nuansa {command.Name}: unknown option '{token.Value}'{Nearest(token.Value, names)}; a text that starts with a dash goes after '--' (nuansa {command.Name} --help lists the options).";
            }
        }
        return null;
    }

    // " (did you mean 'x'?)" for the closest candidate within a third of the word's length in edits (at least 2).
    private static string Nearest(string word, IEnumerable<string> candidates)
    {
        var best = candidates.Select(c => (Name: c, Distance: Edits(word, c))).OrderBy(c => c.Distance).FirstOrDefault();
        return best.Name != null && best.Distance <= Math.Max(2, word.Length / 3) ? $" (did you mean '{best.Name}'?)" : "";
    }

    private static int Edits(string a, string b)
    {
        var previous = Enumerable.Range(0, b.Length + 1).ToArray();
        for (var i = 1; i <= a.Length; i++)
        {
            var current = new int[b.Length + 1];
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
                current[j] = Math.Min(Math.Min(current[j - 1], previous[j]) + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            previous = current;
        }
        return previous[b.Length];
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
                case Option<long> o:
                    o.Validators.Add(r =>
                    {
                        if (r.GetValueOrDefault<long>() < minimum)
                            r.AddError($"{o.Name} must be at least {minimum}, not {r.GetValueOrDefault<long>()}.");
                    });
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
