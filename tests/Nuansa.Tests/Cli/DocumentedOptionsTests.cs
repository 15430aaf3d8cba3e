using System.Text.RegularExpressions;

namespace Nuansa.Tests.Cli;

/// <summary>
/// Every option the README documents for a command exists in that command's <c>--help</c>: a documented option that
/// was never added to its command (as <c>serve --max-batch-tokens</c> once was) fails here.
/// </summary>
public partial class DocumentedOptionsTests
{
    [GeneratedRegex(@"(?<![\w-])--[a-z][a-z0-9-]*[a-z0-9]")]
    private static partial Regex OptionName();

    [GeneratedRegex("`[^`]+`")]
    private static partial Regex CodeSpan();

    [GeneratedRegex(@"\b(nuansa|inspect|download|tokenize|classify|export|init|train|augment|eval|card|demo|pipeline|thresholds|uncertain|serve|worker|curl|redis-cli|dotnet|bash)\b [-a-z]")]
    private static partial Regex OtherCommand();

    /// <summary>Each command section of the README: its command name, the header's options and those of its option tables.</summary>
    public static TheoryData<string> Commands()
    {
        var data = new TheoryData<string>();
        foreach (var command in Sections().Keys)
            data.Add(command);
        return data;
    }

    private static Dictionary<string, HashSet<string>> Sections()
    {
        var sections = new Dictionary<string, HashSet<string>>();
        HashSet<string>? current = null;
        foreach (var line in File.ReadLines(Path.Combine(SharedFiles.Repository, "README.md")))
        {
            if (line.StartsWith("### `nuansa ", StringComparison.Ordinal))
            {
                var name = line["### `nuansa ".Length..].Split(' ', '`')[0];
                current = sections.TryGetValue(name, out var known) ? known : sections[name] = [];
                // The header's first form only (eval names a second command line after a slash).
                current.UnionWith(OptionName().Matches(line.Split("` / `")[0]).Select(m => m.Value));
            }
            else if (line.StartsWith("## ", StringComparison.Ordinal) || line.StartsWith("### ", StringComparison.Ordinal))
            {
                current = null;
            }
            else if (current != null && !line.StartsWith("    ", StringComparison.Ordinal))
            {
                // Options in code spans of the section's prose and tables; a span naming another command is about that one.
                foreach (Match span in CodeSpan().Matches(line))
                {
                    if (!OtherCommand().IsMatch(span.Value))
                        current.UnionWith(OptionName().Matches(span.Value).Select(m => m.Value));
                }
            }
        }
        return sections;
    }

    [Theory]
    [MemberData(nameof(Commands))]
    public void EveryDocumentedOptionExists(string command)
    {
        var (code, help, error) = CliRunner.Run(command, "--help");
        Assert.True(code == 0, error);
        // The tool's name as users type it, however it was started (not the assembly's, Nuansa.Cli).
        Assert.Contains($"  nuansa {command} ", help, StringComparison.Ordinal);
        var missing = Sections()[command].Where(o => !Regex.IsMatch(help, $@"(^|[\s,]){Regex.Escape(o)}([\s,=<]|$)", RegexOptions.Multiline)).Order().ToArray();
        Assert.True(missing.Length == 0, $"nuansa {command}: documented but not in --help: {string.Join(", ", missing)}");
    }
}
