using System.Net;
using Iser.Core.Iscsi.Initiator;
using Iser.Core.Iscsi.Target;
using Iser.Core.Scsi.Target;
using Iser.Transport.Tcp;
using Microsoft.Extensions.Logging.Abstractions;

namespace Iser.Tests.Rbd;

/// <summary>
/// Our target serving one LUN opened from an rbd spec the way `iser target --lun` opens it (LunSpec), on 127.0.0.1 over
/// TCP, with a logged-in session of our initiator.
/// </summary>
internal sealed class RbdTarget : IAsyncDisposable
{
    private const string Iqn = "iqn.2026-12.org.iser.test:rbd";

    private RbdTarget(IscsiTarget target, BlockDeviceLogicalUnit unit, IscsiSession session, IscsiLun lun)
    {
        Target = target;
        Unit = unit;
        Session = session;
        Lun = lun;
    }

    public IscsiTarget Target { get; }
    public BlockDeviceLogicalUnit Unit { get; }
    public IscsiSession Session { get; }
    public IscsiLun Lun { get; }

    public static async Task<RbdTarget> StartAsync(string spec)
    {
        var target = new IscsiTarget(new IscsiTargetOptions(), NullLoggerFactory.Instance);
        try
        {
            var node = new TargetNode(Iqn);
            var unit = LunSpec.Open(spec, node, 0, 512, NullLogger.Instance);
            node.AddLun(0, unit);
            target.AddNode(node);
            var listener = new TcpDatamoverListener(new IPEndPoint(IPAddress.Loopback, 0), NullLogger.Instance);
            target.Listen(listener);
            var session = await IscsiSession.ConnectAsync(new IscsiSessionOptions
            {
                Host = "127.0.0.1",
                Port = listener.LocalEndPoint.Port,
                TargetName = Iqn,
                LoginTimeout = TimeSpan.FromSeconds(10),
            }, new TcpInitiatorTransport());
            return new RbdTarget(target, unit, session, await session.OpenLunAsync(0));
        }
        catch
        {
            await target.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Session.DisposeAsync();
        await Target.DisposeAsync();
    }
}
