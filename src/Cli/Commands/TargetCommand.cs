using System.Net;
using System.Runtime.InteropServices;
using Iser.Cli.Config;
using Iser.Core.Iscsi.Login;
using Iser.Core.Iscsi.Target;
using Iser.Core.Scsi.Target;
using Iser.Core.Scsi.Target.Alua;
using Iser.Core.Scsi.Target.Stores;
using Iser.Core.Datamover;
using Iser.Transport.Iser.Datamover;
using Iser.Transport.Iser.Verbs;
using Iser.Transport.Tcp;
using Microsoft.Extensions.Logging;

namespace Iser.Cli.Commands;

/// <summary>
/// `iser target`: serves LUNs from flags or a JSON file, prints its IQNs and portals, then `ready`, and on
/// Ctrl-C / SIGTERM asks sessions to log out, flushes the LUNs and exits 0.
/// </summary>
internal static class TargetCommand
{
    public const string DefaultIqn = "iqn.2026-11.org.iser:target0";
    public const string DefaultPortal = "127.0.0.1:3260";

    public static async Task<int> RunAsync(ArgumentReader args)
    {
        var configPath = args.Value("--config");
        var config = configPath is null ? new TargetConfigFile() : TargetConfigFile.Load(configPath);
        var portals = args.Values("--portal");
        if (portals.Count > 0) config.Portals = portals;
        if (config.Portals.Count == 0) config.Portals.Add(DefaultPortal);
        var portalSpecs = config.Portals.Select(PortalSpec.Parse).ToList();
        // The config file's states first, the command line's after them (the later setting for a group wins).
        var aluaSpecs = AluaSpec.ParseAll(
            config.AluaSettings().Concat(args.Values("--alua")),
            portalSpecs.Select(p => p.PortalGroupTag).Distinct().ToList());
        var luns = args.Values("--lun");
        var iqn = args.Value("--iqn");
        if (luns.Count > 0 || iqn is not null || config.Targets.Count == 0)
        {
            var entry = new TargetConfigFile.TargetEntry { Iqn = iqn ?? DefaultIqn, Luns = luns.Count > 0 ? luns : ["ram:64M"] };
            entry.AllowedInitiators.AddRange(args.Values("--allow"));
            var chapUser = args.Value("--chap-user");
            var chapSecret = args.Value("--chap-secret");
            if (chapUser is not null || chapSecret is not null)
                entry.Chap = new() { User = chapUser ?? throw new UsageException("--chap-secret needs --chap-user."), Secret = chapSecret ?? throw new UsageException("--chap-user needs --chap-secret.") };
            var mutualUser = args.Value("--mutual-user");
            var mutualSecret = args.Value("--mutual-secret");
            if (mutualUser is not null || mutualSecret is not null)
                entry.MutualChap = new() { User = mutualUser ?? throw new UsageException("--mutual-secret needs --mutual-user."), Secret = mutualSecret ?? throw new UsageException("--mutual-user needs --mutual-secret.") };
            entry.ChapAlgorithms = args.Value("--chap-algorithms");
            config.Targets.RemoveAll(t => t.Iqn == entry.Iqn);
            config.Targets.Add(entry);
        }
        config.QueueDepth = args.Int("--queue-depth") ?? config.QueueDepth;
        config.ErrorRecoveryLevel = args.Int("--error-recovery-level") ?? config.ErrorRecoveryLevel;
        config.MaxConnections = args.Int("--max-connections") ?? config.MaxConnections;
        config.NopInIntervalSeconds = args.Double("--nop-interval") ?? config.NopInIntervalSeconds;
        config.BlockSize = args.Int("--block-size") ?? config.BlockSize;
        bool iser = args.Flag("--iser");
        double? iserNop = args.Double("--iser-nop-interval");
        var metrics = args.Value("--metrics");
        using var loggerFactory = Logging.Create(args.Value("--log-level"), args.Value("--log"));
        args.EnsureAllUsed();
        using var meterProvider = metrics is null ? null : MetricsEndpoint.Start(metrics);
        if (metrics is not null) Console.WriteLine($"metrics http://{metrics}/metrics");

        var options = new IscsiTargetOptions();
        if (config.QueueDepth is int depth) options.CommandQueueDepth = depth;
        if (config.ErrorRecoveryLevel is int erl)
        {
            if (erl is < 0 or > IscsiTargetOptions.MaxSupportedErrorRecoveryLevel)
                throw new UsageException($"--error-recovery-level must be 0, 1 or 2, not {erl}.");
            options.ErrorRecoveryLevel = erl;
        }
        if (config.MaxConnections is int maxConnections)
        {
            if (maxConnections is < 1 or > 65535) throw new UsageException($"--max-connections must be 1 to 65535, not {maxConnections}.");
            options.MaxConnections = maxConnections;
        }
        if (config.NopInIntervalSeconds is double nop) options.NopInInterval = TimeSpan.FromSeconds(nop);
        if (iserNop is double iserNopSeconds) options.IserNopInInterval = TimeSpan.FromSeconds(iserNopSeconds);
        int blockSize = config.BlockSize ?? 512;
        if (blockSize is not (512 or 4096)) throw new UsageException($"--block-size must be 512 or 4096, not {blockSize}.");

        // Every connection is a descriptor: a target meant for thousands of sessions takes what the hard limit allows.
        loggerFactory.CreateLogger("Iser.Target").LogInformation("{Limit}", OpenFileLimit.RaiseToHardLimit());
        await using var target = new IscsiTarget(options, loggerFactory);
        var nodes = new ConfiguredNodes(target, blockSize, loggerFactory);
        foreach (var t in config.Targets) nodes.Add(t);
        foreach (var portal in portalSpecs)
        {
            var endPoint = ParsePortal(portal.Address);
            var listener = new TcpDatamoverListener(endPoint, loggerFactory.CreateLogger("Iser.Transport.Tcp"));
            target.Listen(listener, portal.PortalGroupTag);
            Console.WriteLine($"portal {listener.LocalEndPoint} tcp, portal group {portal.PortalGroupTag}");
            if (iser) ListenIser(target, endPoint, portal.PortalGroupTag, options, loggerFactory);
        }
        foreach (var alua in aluaSpecs)
        {
            target.SetAccessState(alua.Group, alua.State);
            Console.WriteLine($"portal group {alua.Group} {alua.State.Name()}");
        }
        // The signals are handled before "ready" and READY=1 go out: a reload or stop sent the moment the target says
        // it serves (systemd's ExecReload, a script) must find them in place, not the default action (exit).
        using var systemd = new SystemdNotify();
        var reloading = new SemaphoreSlim(1, 1);
        // SIGHUP: read the config file again and apply it (LUNs, access lists, CHAP) without dropping allowed sessions.
        using var sighup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, c =>
        {
            c.Cancel = true;
            _ = ReloadAsync(nodes, configPath, reloading, systemd);
        });
        var stop = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.TrySetResult(); });
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.TrySetResult(); });
        Console.WriteLine("ready");
        Console.Out.Flush();
        systemd.Ready();
        await stop.Task.ConfigureAwait(false);
        Console.WriteLine("stopping");
        systemd.Stopping();
        await target.StopAsync().ConfigureAwait(false);
        Console.WriteLine("stopped");
        return 0;
    }

    /// <summary>One reload at a time; says on standard output what changed, or why nothing did.</summary>
    private static async Task ReloadAsync(ConfiguredNodes nodes, string? configPath, SemaphoreSlim reloading, SystemdNotify systemd)
    {
        await reloading.WaitAsync().ConfigureAwait(false);
        systemd.Reloading();
        try
        {
            if (configPath is null)
            {
                Console.WriteLine("reload: there is no --config file to read again; nothing changed");
                return;
            }
            TargetConfigFile fresh;
            try
            {
                fresh = TargetConfigFile.Load(configPath);
            }
            catch (Exception e)
            {
                Console.WriteLine($"reload failed: {configPath}: {e.Message}; nothing changed");
                return;
            }
            var changes = await nodes.ReloadAsync(fresh).ConfigureAwait(false);
            Console.WriteLine(changes.Count == 0 ? "reloaded: no change" : "reloaded: " + string.Join("; ", changes));
        }
        catch (UsageException e)
        {
            Console.WriteLine($"reload failed: {e.Message}; nothing changed");
        }
        finally
        {
            systemd.Ready();
            reloading.Release();
            Console.Out.Flush();
        }
    }

    /// <summary>
    /// `--iser`: the same portal (address and port number, in the RDMA port space) also accepts iSER connections.
    /// Without an RDMA device, or when the address cannot be bound for RDMA, it says why and serves TCP only.
    /// </summary>
    private static void ListenIser(IscsiTarget target, IPEndPoint endPoint, ushort portalGroupTag, IscsiTargetOptions options, ILoggerFactory loggerFactory)
    {
        if (!RdmaRuntime.IsSupported)
        {
            Console.WriteLine($"portal {endPoint} iser unavailable: {RdmaRuntime.NotSupportedReason}");
            return;
        }
        try
        {
            var iserOptions = new IserOptions { QueueDepth = options.CommandQueueDepth };
            var listener = new IserDatamoverListener(endPoint, iserOptions, loggerFactory.CreateLogger("Iser.Transport.Iser"));
            target.Listen(listener, portalGroupTag);
            Console.WriteLine($"portal {listener.LocalEndPoint} iser, portal group {portalGroupTag}");
        }
        catch (DatamoverException e)
        {
            Console.WriteLine($"portal {endPoint} iser unavailable: {e.Message}");
        }
    }

    /// <summary>A CHAP algorithm list from the command line or the config file, or a usage error saying what is wrong.</summary>
    public static IReadOnlyList<ChapAlgorithm> ParseChapAlgorithms(string text, string source)
    {
        try
        {
            return ChapAlgorithms.Parse(text);
        }
        catch (FormatException e)
        {
            throw new UsageException($"{source}: {e.Message}");
        }
    }

    public static IPEndPoint ParsePortal(string portal)
    {
        if (IPEndPoint.TryParse(portal, out var ep))
        {
            if (ep.Port == 0 && !portal.EndsWith(":0", StringComparison.Ordinal)) ep.Port = 3260;
            return ep;
        }
        int colon = portal.LastIndexOf(':');
        string host = colon > 0 ? portal[..colon] : portal;
        int port = colon > 0 && int.TryParse(portal[(colon + 1)..], out int p) ? p : 3260;
        var addresses = Dns.GetHostAddresses(host);
        if (addresses.Length == 0) throw new UsageException($"cannot resolve portal host '{host}'.");
        return new IPEndPoint(addresses[0], port);
    }
}
