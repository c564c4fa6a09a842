using System.Net;
using Iser.Core.Iscsi.Initiator;
using Iser.Core.Iscsi.Login;
using Iser.Core.Iscsi.Target;
using Iser.Transport.Tcp;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Iser.Tests.Initiator;

/// <summary>Our own target on 127.0.0.1 (ephemeral port) with one node and one RAM LUN, for initiator tests.</summary>
internal sealed class InProcessTarget : IAsyncDisposable
{
    public const string Iqn = "iqn.2026-11.org.iser.test:disk1";
    public const string SecondIqn = "iqn.2026-11.org.iser.test:disk2";

    private InProcessTarget(IscsiTarget target, TcpDatamoverListener listener, RamLogicalUnit unit)
    {
        Target = target;
        Unit = unit;
        Port = listener.LocalEndPoint.Port;
    }

    public IscsiTarget Target { get; }
    public RamLogicalUnit Unit { get; }
    public int Port { get; }

    public static InProcessTarget Start(IscsiTargetOptions? options = null, ChapCredentials? initiatorChap = null,
        ChapCredentials? targetChap = null, long blocks = 8192, ILoggerFactory? loggerFactory = null)
    {
        loggerFactory ??= NullLoggerFactory.Instance;
        var target = new IscsiTarget(options ?? new IscsiTargetOptions(), loggerFactory);
        var unit = new RamLogicalUnit(blocks);
        var node = new TargetNode(Iqn) { Alias = "test disk" };
        node.InitiatorChap = initiatorChap;
        node.TargetChap = targetChap;
        node.AddLun(0, unit);
        target.AddNode(node);
        var second = new TargetNode(SecondIqn);
        second.AddLun(0, new RamLogicalUnit(64));
        target.AddNode(second);
        var listener = new TcpDatamoverListener(new IPEndPoint(IPAddress.Loopback, 0), loggerFactory.CreateLogger("Iser.Tcp"));
        target.Listen(listener);
        return new InProcessTarget(target, listener, unit);
    }

    public IscsiSessionOptions SessionOptions(int? port = null) => new()
    {
        Host = "127.0.0.1",
        Port = port ?? Port,
        TargetName = Iqn,
        LoginTimeout = TimeSpan.FromSeconds(10),
    };

    public ValueTask DisposeAsync() => Target.DisposeAsync();
}
