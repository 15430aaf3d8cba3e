namespace Nuansa.Tests.Cli;

/// <summary>Runs the nuansa command line in-process and captures what it prints.</summary>
internal static class CliRunner
{
    public static (int ExitCode, string Output, string Error) Run(params string[] args) => Run(args, "");

    public static (int ExitCode, string Output, string Error) Run(string[] args, string standardInput)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = Nuansa.Cli.Program.Run(args, output, error, new StringReader(standardInput));
        return (code, output.ToString(), error.ToString());
    }
}
