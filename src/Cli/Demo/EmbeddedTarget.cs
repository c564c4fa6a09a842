using System.Net;
using Iser.Core.Iscsi.Login;
using Iser.Core.Iscsi.Target;
using Iser.Core.Scsi.Target;
using Iser.Core.Scsi.Target.Stores;
using Iser.Transport.Iser.Datamover;
using Iser.Transport.Tcp;
using Microsoft.Extensions.Logging;

namespace Iser.Cli.Demo;

/// <summary>
/// An iSCSI target inside this process: one node with one RAM LUN (LUN 0), listening on 127.0.0.1 at a port the
/// system picks. For `iser demo` and the CLI tests.
/// </summary>
internal sealed class EmbeddedTarget : IAsyncDisposable
{
    public const string DefaultIqn = "iqn.2026-11.org.iser:demo";

    private readonly IscsiTarget _target;

    private EmbeddedTarget(IscsiTarget target, string iqn, IPEndPoint endPoint, BlockDeviceLogicalUnit unit)
    {
        _target = target;
        Iqn = iqn;
        EndPoint = endPoint;
        Unit = unit;
    }

    public string Iqn { get; }
    public IPEndPoint EndPoint { get; }
    /// <summary>Where the target also listens for iSER (same port, RDMA port space), when asked to.</summary>
    public IPEndPoint? IserEndPoint { get; private init; }
    public BlockDeviceLogicalUnit Unit { get; }
    public string Portal => $"{EndPoint.Address}:{EndPoint.Port}";
    public string LunUrl => $"iscsi://{Portal}/{Iqn}/0";

    /// <param name="initiatorChap">When set, initiators must prove this identity (CHAP).</param>
    /// <param name="targetChap">When set, the target proves this identity to initiators that ask (mutual CHAP).</param>
    public static EmbeddedTarget Start(long sizeBytes, ILoggerFactory loggerFactory, string iqn = DefaultIqn, int blockSize = 512,
        ChapCredentials? initiatorChap = null, ChapCredentials? targetChap = null, IPAddress? iserAddress = null)
    {
        var target = new IscsiTarget(new IscsiTargetOptions(), loggerFactory);
        try
        {
            var node = new TargetNode(iqn) { Alias = "iser demo", InitiatorChap = initiatorChap, TargetChap = targetChap };
            var unit = new BlockDeviceLogicalUnit(new RamBackingStore(sizeBytes), new BlockDeviceOptions
            {
                BlockSize = blockSize,
                Identity = $"{iqn}/0",
                LunList = () => [0UL],
            }, loggerFactory.CreateLogger("Iser.Target.Lun"));
            node.AddLun(0, unit);
            target.AddNode(node);
            var listener = new TcpDatamoverListener(new IPEndPoint(IPAddress.Loopback, 0), loggerFactory.CreateLogger("Iser.Transport.Tcp"));
            target.Listen(listener);
            IPEndPoint? iser = null;
            if (iserAddress is not null)
            {
                var iserListener = new IserDatamoverListener(new IPEndPoint(iserAddress, listener.LocalEndPoint.Port), logger: loggerFactory.CreateLogger("Iser.Transport.Iser"));
                target.Listen(iserListener);
                iser = iserListener.LocalEndPoint;
            }
            return new EmbeddedTarget(target, iqn, listener.LocalEndPoint, unit) { IserEndPoint = iser };
        }
        catch
        {
            _ = target.DisposeAsync().AsTask();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _target.StopAsync().ConfigureAwait(false);
        await _target.DisposeAsync().ConfigureAwait(false);
    }
}
