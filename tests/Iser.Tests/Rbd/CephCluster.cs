using System.Diagnostics;
using Iser.Tests.Peers;

namespace Iser.Tests.Rbd;

/// <summary>
/// The single-node Ceph cluster of tests/ceph/cluster.sh, started once for the test run's Ceph collection and stopped
/// at its end (unless it was already running). A start that fails keeps its words (the script's error and the daemons' log tails) and every test that
/// needs the cluster fails with them.
/// </summary>
public sealed class CephCluster : IAsyncLifetime
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(10); // a first start installs packages

    private string? _conf;
    private string? _failure;
    private bool _startedHere;

    /// <summary>The cluster's ceph.conf; throws the reason the cluster did not start.</summary>
    public string ConfigFile => _conf ?? throw new InvalidOperationException(_failure ?? "The Ceph cluster was not started.");

    /// <summary>Options to append to an rbd LUN spec that reach this cluster.</summary>
    public string SpecOptions => $":conf={ConfigFile}";

    public async Task InitializeAsync()
    {
        if (CephFactAttribute.MissingReason is not null) return;
        // A cluster someone else started (a developer's, another test run's) is used and left running. Whether it was is
        // what start itself found: a separate status check can time out on a loaded machine (ceph -s over 15 s), and
        // the run would then stop a cluster it did not start.
        var (exit, stdout, stderr) = await RunAsync(Script, ["start"], StartTimeout).ConfigureAwait(false);
        _startedHere = exit == 0 && !stderr.Contains("already running", StringComparison.Ordinal);
        string last = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault()?.Trim() ?? "";
        if (exit == 0 && File.Exists(last)) _conf = last;
        else _failure = $"tests/ceph/cluster.sh start failed (exit {exit}): {stderr.Trim()}";
    }

    public async Task DisposeAsync()
    {
        if (_startedHere) await RunAsync(Script, ["stop"], TimeSpan.FromMinutes(1)).ConfigureAwait(false);
    }

    /// <summary>Runs the rbd command against the cluster; a failure throws with its output.</summary>
    public async Task<string> RbdAsync(params string[] arguments)
    {
        var (exit, stdout, stderr) = await RunAsync("rbd", ["-c", ConfigFile, .. arguments], TimeSpan.FromMinutes(2)).ConfigureAwait(false);
        if (exit != 0) throw new InvalidOperationException($"rbd {string.Join(' ', arguments)} failed (exit {exit}): {stderr.Trim()}");
        return stdout;
    }

    /// <summary>A fresh image of <paramref name="bytes"/> in pool rbd, with a name no other test uses.</summary>
    public async Task<string> CreateImageAsync(string prefix, long bytes)
    {
        string name = $"{prefix}-{Guid.NewGuid():N}";
        await RbdAsync("create", $"rbd/{name}", "--size", $"{bytes / 1024}K").ConfigureAwait(false);
        return name;
    }

    internal static string Script => Path.Combine(IserCli.RepositoryRoot ?? throw new InvalidOperationException(
        "The repository root (with tests/ceph/cluster.sh) was not found above the test assembly."), "tests", "ceph", "cluster.sh");

    private static async Task<(int Exit, string Stdout, string Stderr)> RunAsync(string program, string[] arguments, TimeSpan timeout)
    {
        var info = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments) info.ArgumentList.Add(argument);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cancel = new CancellationTokenSource(timeout);
        try { await process.WaitForExitAsync(cancel.Token).ConfigureAwait(false); }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            return (-1, await stdout.ConfigureAwait(false), $"{program} did not finish within {timeout.TotalSeconds} s. {await stderr.ConfigureAwait(false)}");
        }
        return (process.ExitCode, await stdout.ConfigureAwait(false), await stderr.ConfigureAwait(false));
    }
}

/// <summary>One cluster for every Ceph test class of the run.</summary>
[CollectionDefinition(Name)]
public sealed class CephCollection : ICollectionFixture<CephCluster>
{
    public const string Name = "Ceph";
}
