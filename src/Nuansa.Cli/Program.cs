using System.CommandLine;

namespace Nuansa.Cli;

/// <summary>The <c>nuansa</c> command: a thin layer that parses arguments and calls the library.</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        Console.OutputEncoding = new System.Text.UTF8Encoding(false);
        Console.InputEncoding = new System.Text.UTF8Encoding(false);
        return Run(args, Console.Out, Console.Error, Console.In);
    }

    /// <summary>Runs one command line with the given streams (used by the tests).</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error, TextReader? input = null)
    {
        var root = new RootCommand("Nuansa: fine-tune, evaluate, quantize and serve Hugging Face text classifiers in .NET.")
        {
            InspectCommand.Create(),
            TokenizeCommand.Create(input ?? TextReader.Null),
            ClassifyCommand.Create(input ?? TextReader.Null),
            PipelineCommand.Create(input ?? TextReader.Null),
            UncertainCommand.Create(input ?? TextReader.Null),
            ExportCommand.Create(),
            InitCommand.Create(),
            TrainCommand.Create(),
            AugmentCommand.Create(),
            EvalCommand.Create(),
            CardCommand.Create(),
            DemoCommand.Create(),
            ServeCommand.Create(),
        };
        var configuration = new InvocationConfiguration { Output = output, Error = error };
        // InvokeAsync: asynchronous actions (serve) get Ctrl+C / SIGTERM as cancellation.
        return root.Parse(args).InvokeAsync(configuration).GetAwaiter().GetResult();
    }

    /// <summary>Runs a command body, turning user-fixable errors into one clear line and exit code 1.</summary>
    internal static int Guard(ParseResult parse, Func<TextWriter, int> body)
    {
        var output = parse.InvocationConfiguration.Output;
        try
        {
            return body(output);
        }
        catch (NuansaException e)
        {
            parse.InvocationConfiguration.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
    }
}
