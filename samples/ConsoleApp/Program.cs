// A console app that classifies texts with a checkpoint folder or a Hub model id:
//   dotnet run -- <model> "first text" "second text" ...
// With no texts it reads lines from standard input and classifies them as a stream.
using Nuansa.Inference;

if (args.Length == 0)
{
    Console.Error.WriteLine("usage: ConsoleApp <model folder or Hub id> [text ...]");
    return 1;
}

using var classifier = await TextClassifier.LoadAsync(args[0]);
Console.WriteLine($"{classifier.Config.ModelType}, labels: {string.Join(", ", classifier.Labels)}");

if (args.Length > 1)
{
    foreach (var text in args.Skip(1))
    {
        var result = await classifier.ClassifyAsync(text);
        Console.WriteLine($"{result.Top.Label}\t{result.Top.Score:0.0000}\t{text}");
    }
    return 0;
}

await foreach (var result in classifier.ClassifyStreamAsync(Lines(Console.In)))
    Console.WriteLine($"{result.Top.Label}\t{result.Top.Score:0.0000}");
return 0;

static async IAsyncEnumerable<TextInput> Lines(TextReader reader)
{
    while (await reader.ReadLineAsync() is { } line)
    {
        if (line.Length > 0)
            yield return new TextInput(line);
    }
}
