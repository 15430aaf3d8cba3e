using System.CommandLine;
using Nuansa.Inference;
using Nuansa.Redis;

namespace Nuansa.Cli;

/// <summary><c>nuansa worker --model M --redis URL --stream S --group G ...</c>: a classification worker on a Redis Streams consumer group.</summary>
internal static class WorkerCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model", "-m") { Description = "Checkpoint folder or Hub id.", Required = true };
        var redis = new Option<string>("--redis") { Description = "redis://host:port[/db].", Required = true };
        var stream = new Option<string>("--stream") { Description = "Input stream: entries with text and optional id; for a pair, context ([CLS] context [SEP] text [SEP]) or HF's text_pair ([CLS] text [SEP] text_pair [SEP]).", Required = true };
        var group = new Option<string>("--group") { Description = "Consumer group (created if missing).", Required = true };
        var consumer = new Option<string?>("--consumer") { Description = "This worker's name in the group (default: host-pid)." };
        var output = new Option<string?>("--output-stream") { Description = "Result stream (default: STREAM:results)." };
        var batch = new Option<int>("--batch-size") { Description = "Entries per read and classify call.", DefaultValueFactory = _ => 32 };
        var block = new Option<int>("--block-ms") { Description = "Wait before asking again when nothing is new.", DefaultValueFactory = _ => 200 };
        var claim = new Option<int>("--claim-idle-ms") { Description = "Take over entries pending this long (their worker died).", DefaultValueFactory = _ => 60_000 };
        var deliveries = new Option<int>("--max-deliveries") { Description = "Deliveries without success before an entry goes to the dead-letter stream.", DefaultValueFactory = _ => 5 };
        var dead = new Option<string?>("--dead-letter-stream") { Description = "Dead-letter stream (default: STREAM:dead)." };
        var threads = new Option<int>("--threads") { Description = "Threads per forward pass (0: all cores).", DefaultValueFactory = _ => 0 };
        var precision = PrecisionOptions.ForRunning();
        var command = new Command("worker", "Classify entries of a Redis stream as a member of a consumer group; results to an output stream, exactly one per input.")
        {
            model, redis, stream, group, consumer, output, batch, block, claim, deliveries, dead, threads, precision.Quantize, precision.Int8Weights,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var error = parse.InvocationConfiguration.Error;
            try
            {
                var modelValue = parse.GetValue(model)!;
                var options = new StreamWorkerOptions
                {
                    Redis = parse.GetValue(redis)!,
                    Stream = parse.GetValue(stream)!,
                    Group = parse.GetValue(group)!,
                    OutputStream = parse.GetValue(output),
                    BatchSize = parse.GetValue(batch),
                    BlockMilliseconds = parse.GetValue(block),
                    ClaimIdleMilliseconds = parse.GetValue(claim),
                    MaxDeliveries = parse.GetValue(deliveries),
                    DeadLetterStream = parse.GetValue(dead),
                    Model = modelValue,
                };
                if (parse.GetValue(consumer) is { } name)
                    options = options with { Consumer = name };
                // A bad Redis address is one line now, not after the model has loaded.
                options.Validate();
                using var classifier = TextClassifier.Load(CliParsing.Model(parse, modelValue), precision.Apply(parse, new TextClassifierOptions { Threads = parse.GetValue(threads) }));
                var worker = new StreamWorker(classifier, options, message => error.WriteLine($"{DateTime.UtcNow:HH:mm:ss} {message}"));
                // SIGTERM (Kubernetes, systemd) and Ctrl+C: finish and acknowledge the batch in hand, then exit 0.
                using var stop = CliParsing.StopOnSignals(cancellationToken);
                await parse.InvocationConfiguration.Output.WriteLineAsync($"worker {options.Consumer} on {options.Stream} (group {options.Group}) → {options.Output}");
                await worker.RunAsync(stop.Token);
                return 0;
            }
            catch (Exception e) when (Program.Describe(e) is { } message)
            {
                await error.WriteLineAsync(Program.ErrorLine(message));
                return 1;
            }
        });
        return command;
    }
}
