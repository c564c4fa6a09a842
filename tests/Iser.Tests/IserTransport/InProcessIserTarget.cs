using System.Diagnostics;
using System.Net;
using Iser.Core.Iscsi.Initiator;
using Iser.Core.Iscsi.Target;
using Iser.Core.Scsi.Target;
using Iser.Core.Scsi.Target.Stores;
using Iser.Tests.Initiator;
using Iser.Tests.Verbs;
using Iser.Transport.Iser.Datamover;
using Iser.Transport.Iser.Fallback;
using Iser.Transport.Tcp;
using Microsoft.Extensions.Logging;

namespace Iser.Tests.IserTransport;

/// <summary>
/// Our target in this process, listening for iSER only on the lab's RDMA address (an ephemeral port), with one RAM
/// LUN 0 set up as `iser target --lun ram:SIZE` sets it up (512-byte blocks, an identity, REPORT LUNS list), so
/// libiscsi's tools can be pointed at <see cref="LunUrl"/>; optionally the same LUN over TCP too (<see cref="TcpLunUrl"/>).
/// </summary>
internal sealed class InProcessIserTarget : IAsyncDisposable
{
    public const string Iqn = "iqn.2026-11.org.iser.test:iser-interop";

    private InProcessIserTarget(IscsiTarget target, TargetNode node, IserDatamoverListener listener, TcpDatamoverListener? tcp, CapturedLog log)
    {
        Target = target;
        Node = node;
        Listener = listener;
        TcpListener = tcp;
        Log = log;
    }

    public IscsiTarget Target { get; }

    public TargetNode Node { get; }

    public IserDatamoverListener Listener { get; }

    public CapturedLog Log { get; }

    /// <summary>The TCP listener on the same address, when started with <c>alsoTcp</c>.</summary>
    public TcpDatamoverListener? TcpListener { get; }

    /// <summary>libiscsi's URL of the same LUN 0 over TCP (needs <c>alsoTcp</c>).</summary>
    public string TcpLunUrl => TcpListener is { } tcp
        ? $"iscsi://{tcp.LocalEndPoint.Address}:{tcp.LocalEndPoint.Port}/{Node.Iqn}/0"
        : throw new InvalidOperationException("This target was started without a TCP listener.");

    /// <summary>libiscsi's URL of LUN 0 over iSER.</summary>
    public string LunUrl => $"iser://{Listener.LocalEndPoint.Address}:{Listener.LocalEndPoint.Port}/{Node.Iqn}/0";

    /// <param name="bytes">Size of the RAM LUN 0.</param>
    /// <param name="logLevel">What the captured log keeps (Trace shows every PDU).</param>
    /// <param name="options">Target options (e.g. heartbeat timings); defaults otherwise.</param>
    /// <param name="address">The RDMA address to listen on; the lab's rxe0 address by default.</param>
    /// <param name="iqn">The target's name.</param>
    /// <param name="alsoTcp">Also listen for TCP on the same address (an ephemeral port of its own).</param>
    /// <param name="persistentReservationFile">Where LUN 0 keeps its APTPL reservation state (none by default).</param>
    /// <param name="iserOptions">The iSER listener's options; QueueDepth 128 and defaults otherwise.</param>
    public static InProcessIserTarget Start(long bytes = 64L << 20, LogLevel logLevel = LogLevel.Information,
        IscsiTargetOptions? options = null, IPAddress? address = null, string iqn = Iqn, bool alsoTcp = false,
        string? persistentReservationFile = null, IserOptions? iserOptions = null)
    {
        var log = new CapturedLog(logLevel);
        var target = new IscsiTarget(options ?? new IscsiTargetOptions(), log.Factory);
        var node = new TargetNode(iqn);
        var unit = new BlockDeviceLogicalUnit(new RamBackingStore(bytes), new BlockDeviceOptions
        {
            BlockSize = 512,
            Identity = $"{iqn}/0",
            LunList = () => node.Luns.Keys.Select(k => (ulong)k).ToList(),
            PersistentReservationFile = persistentReservationFile,
        }, log.Factory.CreateLogger("Iser.Target.Lun"));
        node.AddLun(0, unit);
        target.AddNode(node);
        var listener = new IserDatamoverListener(new IPEndPoint(address ?? LabEnvironment.Address, 0), iserOptions ?? new IserOptions { QueueDepth = 128 },
            log.Factory.CreateLogger("Iser.Iser"));
        target.Listen(listener);
        TcpDatamoverListener? tcp = null;
        if (alsoTcp)
        {
            tcp = new TcpDatamoverListener(new IPEndPoint(address ?? LabEnvironment.Address, 0), log.Factory.CreateLogger("Iser.Tcp"));
            target.Listen(tcp);
        }
        return new InProcessIserTarget(target, node, listener, tcp, log);
    }

    /// <summary>Session options for our initiator against this target, with timeouts generous enough for the TCG guest.</summary>
    public IscsiSessionOptions SessionOptions() => new()
    {
        Host = Listener.LocalEndPoint.Address.ToString(),
        Port = Listener.LocalEndPoint.Port,
        TargetName = Node.Iqn,
        LoginTimeout = TimeSpan.FromSeconds(30),
        CommandTimeout = TimeSpan.FromSeconds(120),
        LoggerFactory = Log.Factory,
    };

    /// <summary>
    /// Waits until the peer's sessions have ended and every iSER connection in this process is freed (no QP, CQ,
    /// registration or posted work request left), then asserts exactly that.
    /// </summary>
    public async Task AssertEverythingFreedAsync(TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        while ((Target.SessionCount != 0 || IserConnectionCounters.LiveConnections != 0 || IserConnectionCounters.InitiatorControlBufferBytes != 0)
               && sw.Elapsed < timeout)
            await Task.Delay(50);
        Assert.True(Target.SessionCount == 0, $"the target still holds {Target.SessionCount} session(s) {timeout.TotalSeconds} s after the peer finished");
        Assert.True(IserConnectionCounters.LiveConnections == 0,
            $"{IserConnectionCounters.LiveConnections} iSER connection(s) still alive {timeout.TotalSeconds} s after the peer finished");
        // The counters are process-wide: a test that left something behind shows here, in the next test that checks.
        Assert.True(IserConnectionCounters.OutstandingWorkRequests == 0,
            $"{IserConnectionCounters.OutstandingWorkRequests} RDMA work request(s) posted and never completed in this process");
        Assert.True(IserConnectionCounters.RegisteredBytes == 0,
            $"{IserConnectionCounters.RegisteredBytes} bytes still registered by iSER connections in this process");
        // The initiators' shared queues go with their last connection (the target's with the listener).
        Assert.True(IserConnectionCounters.InitiatorControlBufferBytes == 0,
            $"{IserConnectionCounters.InitiatorControlBufferBytes} bytes still registered by the initiators' shared queues after their last connection");
        Assert.True(InitiatorDeviceResources.CompletionThreads == 0,
            $"{InitiatorDeviceResources.CompletionThreads} initiator CQ threads still running after the last initiator connection");
    }

    /// <summary>
    /// Our own iSER initiator logs in, reads and logs out once, so the target's login and I/O paths are JIT-compiled
    /// before a libiscsi tool (whose 1.19 iSER loop gives up after 1 s without a completion) talks to it.
    /// </summary>
    public async Task WarmUpAsync()
    {
        var session = await IscsiSession.ConnectAsync(SessionOptions(), InitiatorTransports.Create(TransportKind.Iser, Log.Factory));
        try
        {
            var lun = await session.OpenLunAsync(0);
            await lun.ReadAsync(0, new byte[4096]);
            await session.LogoutAsync();
        }
        finally
        {
            await session.DisposeAsync();
        }
        await AssertEverythingFreedAsync(TimeSpan.FromSeconds(30));
    }

    /// <summary>What the target logged at warning level and above (for failure messages).</summary>
    public string Warnings => string.Join('\n', Log.Lines.Where(l => l.Contains(" Warning ") || l.Contains(" Error ") || l.Contains(" Critical ")));

    public ValueTask DisposeAsync() => Target.DisposeAsync();
}
