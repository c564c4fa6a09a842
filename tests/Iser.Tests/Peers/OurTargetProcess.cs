using System.Globalization;

namespace Iser.Tests.Peers;

/// <summary>
/// Our target run as a separate process, exactly as a user runs it:
/// `dotnet iser.dll target --portal 127.0.0.1:PORT --iqn IQN --lun SPEC... [--chap-user U --chap-secret S] [--config F]`.
/// Started when it prints a line "ready"; stopped with SIGTERM, after which it must exit with code 0.
/// </summary>
public sealed class OurTargetProcess : IAsyncDisposable
{
    /// <summary>The LUN number our target gives the first --lun (the contract numbers them 0, 1, ... in order).</summary>
    public const int FirstLun = 0;

    public static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(15);

    private readonly ExternalProcess _process;
    private int? _exitCode;

    private OurTargetProcess(ExternalProcess process, int port, string targetIqn, OurTargetOptions options)
    {
        _process = process;
        Port = port;
        TargetIqn = targetIqn;
        Options = options;
    }

    public int Port { get; }

    public string TargetIqn { get; }

    public OurTargetOptions Options { get; }

    /// <summary>"127.0.0.1:PORT".</summary>
    public string Portal => $"127.0.0.1:{Port}";

    /// <summary>LUN numbers in the order of <see cref="OurTargetOptions.Luns"/>.</summary>
    public IReadOnlyList<int> Luns => Enumerable.Range(FirstLun, Options.Luns.Count).ToArray();

    /// <summary>Everything the target printed so far.</summary>
    public string Transcript => _process.Transcript;

    public bool HasExited => _process.HasExited;

    /// <summary>The process id (to send it a signal).</summary>
    public int ProcessId => _process.Id;

    /// <summary>Waits for a line of the target's output that matches (a line printed earlier counts too).</summary>
    public Task<string> WaitForLineAsync(Func<string, bool> match, TimeSpan timeout) => _process.WaitForLineAsync(match, timeout);

    public string PortalUrl(ChapCredentials? chap = null) => LibiscsiUrl.Portal(Portal, chap);

    public string LunUrl(int lun = FirstLun, ChapCredentials? chap = null) => LibiscsiUrl.Lun(Portal, TargetIqn, lun, chap);

    /// <summary>The same LUN through the second portal (<see cref="OurTargetOptions.SecondLoopbackPortal"/>).</summary>
    public string SecondPathLunUrl(int lun = FirstLun) => LibiscsiUrl.Lun($"127.0.0.2:{Port}", TargetIqn, lun, null);

    public static async Task<OurTargetProcess> StartAsync(OurTargetOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new OurTargetOptions();
        string dll = IserCli.RequireDll();
        string iqn = options.TargetIqn ?? $"iqn.2026-11.org.example:ours-{Guid.NewGuid():N}"[..48];

        for (int attempt = 1; ; attempt++)
        {
            int port = FreePort.OnLoopback();
            string group = options.PortalGroupTag is { } tpgt ? "," + tpgt.ToString(CultureInfo.InvariantCulture) : "";
            var arguments = new List<string> { dll, "target", "--portal", $"127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}{group}", "--iqn", iqn };
            if (options.SecondLoopbackPortal)
                arguments.AddRange(new[] { "--portal", $"127.0.0.2:{port.ToString(CultureInfo.InvariantCulture)}{group}" });
            foreach (string lun in options.Luns)
                arguments.AddRange(new[] { "--lun", lun });
            if (options.Chap is { } chap)
                arguments.AddRange(new[] { "--chap-user", chap.User, "--chap-secret", chap.Secret });
            if (options.ConfigFile is { } config)
                arguments.AddRange(new[] { "--config", config });
            arguments.AddRange(options.ExtraArguments);

            var process = ExternalProcess.Start(IserCli.DotnetHost, arguments, environment: options.Environment);
            try
            {
                await process.WaitForLineAsync(line => line.Trim() == "ready", options.ReadyTimeout, cancellationToken)
                    .ConfigureAwait(false);
                return new OurTargetProcess(process, port, iqn, options);
            }
            catch (InvalidOperationException) when (attempt < 3 && process.Transcript.Contains("in use", StringComparison.OrdinalIgnoreCase))
            {
                // Someone took the port between our probe and the target's bind; try another one.
                await process.DisposeAsync().ConfigureAwait(false);
            }
            catch
            {
                await process.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }
    }

    /// <summary>Sends SIGTERM and waits for exit; returns the exit code (killing it and throwing if it hangs).</summary>
    public async Task<int> StopAsync()
    {
        if (_exitCode is { } done)
            return done;
        if (!_process.HasExited)
            _process.Signal(ExternalProcess.SigTerm);
        int code;
        try
        {
            code = await _process.WaitForExitAsync(StopTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException e)
        {
            _exitCode = -1;
            throw new TimeoutException($"Our target did not exit within {StopTimeout.TotalSeconds} s of SIGTERM. {e.Message}", e);
        }
        _exitCode = code;
        return code;
    }

    /// <summary>SIGSTOP: the target hangs (it keeps its sockets and its cluster sessions, and answers nothing) until <see cref="Thaw"/>.</summary>
    public void Freeze() => _process.Signal(19);

    /// <summary>SIGCONT after <see cref="Freeze"/>.</summary>
    public void Thaw() => _process.Signal(18);

    /// <summary>SIGTERM, then asserts the target exited by itself with code 0.</summary>
    public async Task StopAndAssertCleanExitAsync()
    {
        int code = await StopAsync().ConfigureAwait(false);
        Assert.True(code == 0, $"Our target exited with code {code} after SIGTERM; expected 0. Its output:\n{Transcript}");
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (_exitCode is null && !_process.HasExited)
                await StopAsync().ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // Already killed by StopAsync; disposal must not throw over the test's own failure.
        }
        finally
        {
            await _process.DisposeAsync().ConfigureAwait(false);
        }
    }
}
