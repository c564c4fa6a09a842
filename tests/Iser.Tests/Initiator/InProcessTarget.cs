using System.Net;
using Iser.Core.Datamover;
using Iser.Core.Iscsi.Initiator;
using Iser.Core.Iscsi.Login;
using Iser.Core.Iscsi.Target;
using Iser.Core.Scsi.Target;
using Iser.Core.Scsi.Target.Stores;
using Iser.Tests.Transport.InMemory;
using Iser.Transport.Tcp;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Iser.Tests.Initiator;

/// <summary>
/// Our own target with one node and one RAM LUN, for initiator tests: on 127.0.0.1 (ephemeral port) over TCP, or on an
/// <see cref="InMemoryTransport"/>. A session reaches it at <see cref="SessionOptions"/>' portal through <see cref="InitiatorTransport"/>.
/// </summary>
internal sealed class InProcessTarget : IAsyncDisposable
{
    public const string Iqn = "iqn.2026-11.org.iser.test:disk1";
    public const string SecondIqn = "iqn.2026-11.org.iser.test:disk2";
    /// <summary>Transport names for <see cref="Start"/>.</summary>
    public const string Tcp = "tcp", Memory = "memory";

    private static readonly TcpInitiatorTransport TcpTransport = new();

    private InProcessTarget(IscsiTarget target, IDatamoverListener listener, RamLogicalUnit? unit, BlockDeviceLogicalUnit? blockDevice)
    {
        Target = target;
        _unit = unit;
        BlockDevice = blockDevice;
        Port = listener.LocalEndPoint.Port;
        InMemory = listener as InMemoryTransport;
        Host = InMemory is null ? "127.0.0.1" : InMemoryTransport.Host;
        InitiatorTransport = InMemory ?? (IInitiatorTransport)TcpTransport;
    }

    private readonly RamLogicalUnit? _unit;

    public IscsiTarget Target { get; }
    /// <summary>LUN 0 when the target was started with the test LU (gates, counters).</summary>
    public RamLogicalUnit Unit => _unit ?? throw new InvalidOperationException("This target serves the SBC block device, not the test LU.");
    /// <summary>LUN 0 when the target was started with the project's SBC block device over a RAM store.</summary>
    public BlockDeviceLogicalUnit? BlockDevice { get; }
    public int Port { get; }
    /// <summary>The portal's host: 127.0.0.1, or "memory".</summary>
    public string Host { get; }
    /// <summary>What a session connects with: TCP, or the in-memory transport the target listens on.</summary>
    public IInitiatorTransport InitiatorTransport { get; }
    /// <summary>The in-memory transport (its connections, to break them), or null over TCP.</summary>
    public InMemoryTransport? InMemory { get; }
    public string TransportName => InitiatorTransport.TransportName;

    /// <param name="blockDevice">Serve LUN 0 with the project's BlockDeviceLogicalUnit over a RamBackingStore instead of the test LU.</param>
    /// <param name="transport"><see cref="Tcp"/> (loopback) or <see cref="Memory"/>.</param>
    public static InProcessTarget Start(IscsiTargetOptions? options = null, ChapCredentials? initiatorChap = null,
        ChapCredentials? targetChap = null, long blocks = 8192, ILoggerFactory? loggerFactory = null, bool blockDevice = false,
        string transport = Tcp, IReadOnlyList<ChapAlgorithm>? chapAlgorithms = null)
    {
        if (transport is not (Tcp or Memory)) throw new ArgumentException($"Unknown transport '{transport}'.", nameof(transport));
        loggerFactory ??= NullLoggerFactory.Instance;
        var target = new IscsiTarget(options ?? new IscsiTargetOptions(), loggerFactory);
        RamLogicalUnit? unit = null;
        BlockDeviceLogicalUnit? device = null;
        if (blockDevice) device = new BlockDeviceLogicalUnit(new RamBackingStore(blocks * 512), new BlockDeviceOptions { BlockSize = 512 });
        else unit = new RamLogicalUnit(blocks);
        var node = new TargetNode(Iqn) { Alias = "test disk" };
        node.InitiatorChap = initiatorChap;
        node.TargetChap = targetChap;
        node.ChapAlgorithms = chapAlgorithms;
        node.AddLun(0, (ILogicalUnit?)device ?? unit!);
        target.AddNode(node);
        var second = new TargetNode(SecondIqn);
        second.AddLun(0, new RamLogicalUnit(64));
        target.AddNode(second);
        IDatamoverListener listener = transport == Memory
            ? new InMemoryTransport()
            : new TcpDatamoverListener(new IPEndPoint(IPAddress.Loopback, 0), loggerFactory.CreateLogger("Iser.Tcp"));
        target.Listen(listener);
        return new InProcessTarget(target, listener, unit, device);
    }

    public IscsiSessionOptions SessionOptions(int? port = null) => new()
    {
        Host = Host,
        Port = port ?? Port,
        TargetName = Iqn,
        LoginTimeout = TimeSpan.FromSeconds(10),
    };

    public ValueTask DisposeAsync() => Target.DisposeAsync();
}
