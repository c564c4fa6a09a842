using System.Net;
using Iser.Core.Iscsi.Login;
using Iser.Core.Iscsi.Target;
using Iser.Transport.Tcp;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Iser.Hosting;

/// <summary>
/// The iSCSI target as a hosted service: at start it builds the targets and LUNs from <see cref="IscsiTargetHostOptions"/>
/// (validated before anything opens) and listens on the portals; at stop it asks every session to log out, closes what
/// remains and flushes the LUNs.
/// </summary>
public sealed class IscsiTargetHostedService(IOptions<IscsiTargetHostOptions> options, ILoggerFactory loggerFactory) : IHostedService, IAsyncDisposable
{
    private readonly ILogger _logger = loggerFactory.CreateLogger("Iser.Hosting");
    private readonly List<IPEndPoint> _endpoints = [];
    private IscsiTarget? _target;

    /// <summary>The running target (for adding LUNs, ALUA states, diagnostics).</summary>
    public IscsiTarget Target => _target ?? throw new InvalidOperationException("The iSCSI target has not started yet.");

    /// <summary>Where the portals listen, in the configuration's order (a port 0 shows the one the system chose).</summary>
    public IReadOnlyList<IPEndPoint> Endpoints => _endpoints;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var o = options.Value;
        var targetOptions = new IscsiTargetOptions();
        if (o.QueueDepth is int depth) targetOptions.CommandQueueDepth = depth;
        if (o.ErrorRecoveryLevel is int erl) targetOptions.ErrorRecoveryLevel = erl;
        if (o.MaxConnections is int connections) targetOptions.MaxConnections = connections;
        var target = new IscsiTarget(targetOptions, loggerFactory);
        try
        {
            foreach (var entry in o.Targets) target.AddNode(BuildNode(entry, o.BlockSize));
            foreach (var text in o.Portals)
            {
                var portal = PortalSpec.Parse(text);
                var listener = new TcpDatamoverListener(portal.Resolve(), loggerFactory.CreateLogger("Iser.Transport.Tcp"));
                target.Listen(listener, portal.PortalGroupTag);
                _endpoints.Add(listener.LocalEndPoint);
            }
        }
        catch
        {
            target.DisposeAsync().AsTask().GetAwaiter().GetResult();
            throw;
        }
        _target = target;
        _logger.LogInformation("iSCSI target serving {Targets} on {Portals}", string.Join(", ", o.Targets.Select(t => t.Iqn)), string.Join(", ", _endpoints));
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_target is { } target) await target.StopAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (_target is { } target) await target.DisposeAsync().ConfigureAwait(false);
    }

    private TargetNode BuildNode(TargetNodeOptions entry, int blockSize)
    {
        var node = new TargetNode(entry.Iqn) { Alias = entry.Alias };
        node.SetAllowedInitiators(entry.AllowedInitiators);
        if (entry.Chap is { } chap) node.InitiatorChap = new ChapCredentials(chap.User, chap.Secret);
        if (entry.MutualChap is { } mutual) node.TargetChap = new ChapCredentials(mutual.User, mutual.Secret);
        var lunLogger = loggerFactory.CreateLogger("Iser.Target.Lun");
        for (int lun = 0; lun < entry.Luns.Count; lun++) node.AddLun(lun, LunSpec.Open(entry.Luns[lun], node, lun, blockSize, lunLogger));
        return node;
    }
}
