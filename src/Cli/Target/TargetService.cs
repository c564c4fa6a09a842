using System.Net;
using System.Runtime.InteropServices;
using Iser.Cli.Commands;
using Iser.Core.Datamover;
using Iser.Core.Iscsi.Target;
using Iser.Core.Scsi.Target.Alua;
using Iser.Transport.Iser.Datamover;
using Iser.Transport.Iser.Verbs;
using Iser.Transport.Tcp;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Iser.Cli.Target;

/// <summary>
/// `iser target`'s target as a hosted service. Start: the targets and LUNs, each portal (TCP, and iSER with --iser),
/// the ALUA states, SIGHUP for reloads, each described on standard output; then, once the host runs, `ready` and
/// READY=1. Stop (SIGINT/SIGTERM, through the host's console lifetime): `stopping` and STOPPING=1, sessions asked to log
/// out, LUNs flushed, `stopped`.
/// </summary>
internal sealed class TargetService(TargetRunOptions run, TargetPlan plan, SystemdNotify systemd, ILoggerFactory loggerFactory)
    : IHostedLifecycleService, IAsyncDisposable
{
    private IscsiTarget? _target;
    private PosixSignalRegistration? _sighup;

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        // Every connection is a descriptor: a target meant for thousands of sessions takes what the hard limit allows.
        loggerFactory.CreateLogger("Iser.Target").LogInformation("{Limit}", OpenFileLimit.RaiseToHardLimit());
        var target = _target = new IscsiTarget(plan.TargetOptions, loggerFactory);
        var nodes = new ConfiguredNodes(target, plan.BlockSize, loggerFactory);
        foreach (var entry in run.Config.Targets) nodes.Add(entry);
        foreach (var portal in plan.Portals)
        {
            var endPoint = portal.Resolve();
            var listener = new TcpDatamoverListener(endPoint, loggerFactory.CreateLogger("Iser.Transport.Tcp"));
            target.Listen(listener, portal.PortalGroupTag);
            Console.WriteLine($"portal {listener.LocalEndPoint} tcp, portal group {portal.PortalGroupTag}");
            if (plan.Iser) ListenIser(target, endPoint, portal.PortalGroupTag);
        }
        foreach (var alua in plan.Alua)
        {
            target.SetAccessState(alua.Group, alua.State);
            Console.WriteLine($"portal group {alua.Group} {alua.State.Name()}");
        }
        // In place before "ready" and READY=1 go out: a reload sent the moment the target says it serves (systemd's
        // ExecReload, a script) must find it, not the default action (exit). The console lifetime took SIGINT and
        // SIGTERM before any service started.
        var reloader = new ConfigReloader(nodes, run.ConfigPath, systemd);
        _sighup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, c =>
        {
            c.Cancel = true;
            _ = reloader.ReloadAsync();
        });
        return Task.CompletedTask;
    }

    public Task StartedAsync(CancellationToken cancellationToken)
    {
        Console.WriteLine("ready");
        Console.Out.Flush();
        systemd.Ready();
        return Task.CompletedTask;
    }

    public Task StoppingAsync(CancellationToken cancellationToken)
    {
        Console.WriteLine("stopping");
        systemd.Stopping();
        return Task.CompletedTask;
    }

    /// <summary>
    /// Bounded by the target's logout grace period and the flushes; not cut short by the host's shutdown timeout, so
    /// a LUN is never left unflushed (systemd's TimeoutStopSec is the outer bound).
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_target is { } target) await target.StopAsync().ConfigureAwait(false);
    }

    public Task StoppedAsync(CancellationToken cancellationToken)
    {
        Console.WriteLine("stopped");
        Console.Out.Flush();
        return Task.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        _sighup?.Dispose();
        if (_target is { } target) await target.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// `--iser`: the same portal (address and port number, in the RDMA port space) also accepts iSER connections.
    /// Without an RDMA device, or when the address cannot be bound for RDMA, it says why and serves TCP only.
    /// </summary>
    private void ListenIser(IscsiTarget target, IPEndPoint endPoint, ushort portalGroupTag)
    {
        if (!RdmaRuntime.IsSupported)
        {
            Console.WriteLine($"portal {endPoint} iser unavailable: {RdmaRuntime.NotSupportedReason}");
            return;
        }
        try
        {
            var iserOptions = new IserOptions { QueueDepth = plan.TargetOptions.CommandQueueDepth };
            var listener = new IserDatamoverListener(endPoint, iserOptions, loggerFactory.CreateLogger("Iser.Transport.Iser"));
            target.Listen(listener, portalGroupTag);
            Console.WriteLine($"portal {listener.LocalEndPoint} iser, portal group {portalGroupTag}");
        }
        catch (DatamoverException e)
        {
            Console.WriteLine($"portal {endPoint} iser unavailable: {e.Message}");
        }
    }
}
