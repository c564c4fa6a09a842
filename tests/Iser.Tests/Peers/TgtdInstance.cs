using System.Globalization;

namespace Iser.Tests.Peers;

/// <summary>
/// A private tgtd (Linux SCSI target framework) on 127.0.0.1 with its own free portal port and control
/// port, so several run side by side: one target, file-backed disk LUNs, ACL ALL, optional CHAP.
/// </summary>
public sealed class TgtdInstance : IAsyncDisposable
{
    /// <summary>tgtd puts its controller on LUN 0; the first disk is LUN 1.</summary>
    public const int FirstDiskLun = 1;

    private const int TargetId = 1;
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(20);

    private readonly ExternalProcess _daemon;
    private readonly string _tgtadm;
    private readonly List<string> _backingFiles = new();
    private bool _stopped;

    private TgtdInstance(ExternalProcess daemon, string tgtadm, int port, int controlPort, string targetIqn)
    {
        _daemon = daemon;
        _tgtadm = tgtadm;
        Port = port;
        ControlPort = controlPort;
        TargetIqn = targetIqn;
    }

    public int Port { get; }

    /// <summary>The number given to tgtd -C and tgtadm -C (names the management socket).</summary>
    public int ControlPort { get; }

    public string TargetIqn { get; }

    /// <summary>"127.0.0.1:PORT".</summary>
    public string Portal => $"127.0.0.1:{Port}";

    /// <summary>Disk LUN numbers in the order of <see cref="TgtdOptions.LunSizesInBytes"/>.</summary>
    public IReadOnlyList<int> Luns => Enumerable.Range(FirstDiskLun, _backingFiles.Count).ToArray();

    /// <summary>Backing file of each disk LUN, in LUN order.</summary>
    public IReadOnlyList<string> BackingFiles => _backingFiles;

    /// <summary>What tgtd printed so far (for failure messages).</summary>
    public string Transcript => _daemon.Transcript;

    public bool HasExited => _daemon.HasExited;

    public string PortalUrl(ChapCredentials? chap = null) => LibiscsiUrl.Portal(Portal, chap);

    public string LunUrl(int lun = FirstDiskLun, ChapCredentials? chap = null) => LibiscsiUrl.Lun(Portal, TargetIqn, lun, chap);

    public static async Task<TgtdInstance> StartAsync(TgtdOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new TgtdOptions();
        string tgtd = PeerTools.Require("tgtd", PeerTools.TgtdPackage);
        string tgtadm = PeerTools.Require("tgtadm", PeerTools.TgtdPackage);
        string iqn = options.TargetIqn ?? $"iqn.2026-11.org.example:tgtd-{Guid.NewGuid():N}"[..48];

        // A port or control socket can be taken between choosing and binding; try a few fresh pairs.
        Exception? last = null;
        for (int attempt = 0; attempt < 3; attempt++)
        {
            int port = FreePort.OnLoopback();
            int controlPort = FreeControlPort();
            var daemon = ExternalProcess.Start(tgtd, new[]
            {
                "-f", "-C", controlPort.ToString(CultureInfo.InvariantCulture),
                "--iscsi", $"portal=127.0.0.1:{port}",
            });
            var instance = new TgtdInstance(daemon, tgtadm, port, controlPort, iqn);
            try
            {
                await FreePort.WaitUntilListeningAsync(port, StartTimeout, () => !daemon.HasExited).ConfigureAwait(false);
                await instance.ConfigureAsync(options, cancellationToken).ConfigureAwait(false);
                return instance;
            }
            catch (Exception e) when (e is InvalidOperationException or TimeoutException)
            {
                last = new InvalidOperationException($"{e.Message}\ntgtd output:\n{daemon.Transcript}", e);
                await instance.DisposeAsync().ConfigureAwait(false);
            }
        }
        throw new InvalidOperationException($"tgtd did not start after 3 attempts: {last!.Message}", last);
    }

    /// <summary>Runs tgtadm against this instance's control port (with --lld iscsi), failing on a non-zero exit.</summary>
    public async Task<ProcessResult> TgtadmAsync(params string[] arguments)
    {
        var result = await ExternalProcess.RunAsync(_tgtadm,
            new[] { "-C", ControlPort.ToString(CultureInfo.InvariantCulture), "--lld", "iscsi" }.Concat(arguments),
            CommandTimeout).ConfigureAwait(false);
        if (result.ExitCode != 0)
            throw new InvalidOperationException($"tgtadm failed: {result}");
        return result;
    }

    /// <summary>
    /// Deletes the target and the system the documented way (tgtd ignores SIGTERM) and waits for tgtd to exit;
    /// kills it if it will not. Returns tgtd's exit code.
    /// </summary>
    public async Task<int> StopAsync()
    {
        if (_stopped)
            return _daemon.ExitCode ?? -1;
        _stopped = true;
        if (!_daemon.HasExited)
        {
            string control = ControlPort.ToString(CultureInfo.InvariantCulture);
            string tid = TargetId.ToString(CultureInfo.InvariantCulture);
            await ExternalProcess.RunAsync(_tgtadm,
                new[] { "-C", control, "--lld", "iscsi", "--op", "delete", "--force", "--mode", "target", "--tid", tid },
                CommandTimeout).ConfigureAwait(false);
            await ExternalProcess.RunAsync(_tgtadm,
                new[] { "-C", control, "--op", "delete", "--mode", "system" }, CommandTimeout).ConfigureAwait(false);
        }
        try
        {
            return await _daemon.WaitForExitAsync(TimeSpan.FromSeconds(15)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return -1; // WaitForExitAsync killed it.
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAsync().ConfigureAwait(false);
        }
        finally
        {
            await _daemon.DisposeAsync().ConfigureAwait(false);
            foreach (string file in _backingFiles)
                LoopbackStorage.DeleteQuietly(file);
        }
    }

    private async Task ConfigureAsync(TgtdOptions options, CancellationToken cancellationToken)
    {
        string tid = TargetId.ToString(CultureInfo.InvariantCulture);
        await TgtadmAsync("--op", "new", "--mode", "target", "--tid", tid, "-T", TargetIqn).ConfigureAwait(false);
        int lun = FirstDiskLun;
        foreach (long size in options.LunSizesInBytes)
        {
            cancellationToken.ThrowIfCancellationRequested();
            string file = LoopbackStorage.CreateSparseFile(size, "tgtd-lun");
            _backingFiles.Add(file);
            await TgtadmAsync("--op", "new", "--mode", "logicalunit", "--tid", tid,
                "--lun", (lun++).ToString(CultureInfo.InvariantCulture), "-b", file).ConfigureAwait(false);
        }
        await TgtadmAsync("--op", "bind", "--mode", "target", "--tid", tid, "-I", "ALL").ConfigureAwait(false);
        if (options.Chap is { } chap)
        {
            await TgtadmAsync("--op", "new", "--mode", "account", "--user", chap.User, "--password", chap.Secret).ConfigureAwait(false);
            await TgtadmAsync("--op", "bind", "--mode", "account", "--tid", tid, "--user", chap.User).ConfigureAwait(false);
        }
        if (options.MutualChap is { } mutual)
        {
            await TgtadmAsync("--op", "new", "--mode", "account", "--user", mutual.User, "--password", mutual.Secret).ConfigureAwait(false);
            await TgtadmAsync("--op", "bind", "--mode", "account", "--tid", tid, "--user", mutual.User, "--outgoing").ConfigureAwait(false);
        }
    }

    // tgtd names its management socket /var/run/tgtd/socket.N and locks socket.N.lock; pick an unused N.
    private static int FreeControlPort()
    {
        for (int i = 0; i < 100; i++)
        {
            int candidate = Random.Shared.Next(1000, 30000);
            if (!File.Exists($"/var/run/tgtd/socket.{candidate}") && !File.Exists($"/var/run/tgtd/socket.{candidate}.lock"))
                return candidate;
        }
        return Random.Shared.Next(30000, 60000);
    }
}
