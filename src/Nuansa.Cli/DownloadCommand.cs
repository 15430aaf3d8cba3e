using System.CommandLine;
using Nuansa.Hub;

namespace Nuansa.Cli;

/// <summary><c>nuansa download org/name[@revision] [--revision R]</c>: fetch a model into the HF cache and print its folder.</summary>
internal static class DownloadCommand
{
    public static Command Create()
    {
        var repo = new Argument<string>("repo") { Description = "Hub model id: org/name, or org/name@revision." };
        var revision = new Option<string?>("--revision") { Description = "Branch, tag or commit (default: main, or the @revision of the id)." };
        var command = new Command("download", "Download config, tokenizer and weights of a Hub model into the Hugging Face cache (shared with Python) and print the snapshot folder.")
        {
            repo, revision,
        };
        command.SetAction(parse => Program.Guard(parse, stdout =>
        {
            var id = parse.GetValue(repo)!;
            if (!HubModels.TryParse(id, out var name, out var fromId))
                throw new NuansaException($"'{id}' is not a Hub model id (org/name[@revision]).");
            if (parse.GetValue(revision) is { } r && id.Contains('@', StringComparison.Ordinal) && r != fromId)
                throw new NuansaException($"'{id}' names revision {fromId} and --revision says {r}: give one.");
            // Unlike --model, which trusts a complete cached snapshot, download always asks the Hub for the revision's commit.
            stdout.WriteLine(HubModels.Download(name, parse.GetValue(revision) ?? fromId, CliParsing.HubOptions(parse)));
            return 0;
        }));
        return command;
    }
}
