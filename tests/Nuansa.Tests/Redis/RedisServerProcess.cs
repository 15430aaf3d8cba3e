using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using StackExchange.Redis;

namespace Nuansa.Tests.Redis;

/// <summary>A real redis-server on a free loopback port, its own folder, append-only file on (fsync always), stopped with the test.</summary>
public sealed class RedisServerProcess : IDisposable
{
    private readonly TempDirectory _dir = new();
    private Process? _process;

    public RedisServerProcess()
    {
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            Port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }
        Start();
    }

    public int Port { get; }
    public string Url => $"redis://127.0.0.1:{Port}";

    /// <summary>Starts the server (again, after <see cref="Stop"/>: it reloads the append-only file).</summary>
    public void Start()
    {
        var path = File.Exists("/usr/bin/redis-server") ? "/usr/bin/redis-server"
            : throw new InvalidOperationException("redis-server is missing: `bash test.sh` installs it (Debian package redis-server).");
        var start = new ProcessStartInfo(path) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = _dir.Path };
        foreach (var a in (string[])["--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "",
                     "--appendonly", "yes", "--appendfsync", "always", "--dir", _dir.Path, "--daemonize", "no"])
            start.ArgumentList.Add(a);
        _process = Process.Start(start)!;
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                using var connection = ConnectionMultiplexer.Connect($"127.0.0.1:{Port},connectTimeout=500");
                if (connection.GetDatabase().Ping() >= TimeSpan.Zero)
                    return;
            }
            // Not listening yet, or still reading its append-only file ("LOADING"): wait, as a client would.
            catch (Exception e) when ((e is RedisConnectionException || (e is RedisServerException && e.Message.StartsWith("LOADING", StringComparison.Ordinal)))
                                      && clock.Elapsed < TimeSpan.FromSeconds(20))
            {
                Thread.Sleep(50);
            }
        }
    }

    /// <summary>Stops the server as an operator would (SHUTDOWN: the append-only file is complete).</summary>
    public void Stop()
    {
        if (_process is not { HasExited: false })
            return;
        try
        {
            using var connection = ConnectionMultiplexer.Connect($"127.0.0.1:{Port},allowAdmin=true");
            connection.GetServer("127.0.0.1", Port).Shutdown();
        }
        catch (RedisConnectionException)
        {
        }
        if (!_process.WaitForExit(10_000))
            _process.Kill();
    }

    public void Dispose()
    {
        if (_process is { HasExited: false })
            _process.Kill();
        _process?.WaitForExit();
        _dir.Dispose();
    }
}
