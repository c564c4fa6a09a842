using System.Net;
using Iser.Core.Iscsi.Target;
using Iser.Core.Scsi;
using Iser.Core.Scsi.Target;
using Iser.Core.Scsi.Target.Stores;
using Iser.Tests.Initiator;
using Iser.Transport.Tcp;
using Microsoft.Extensions.Logging;

namespace Iser.Tests.Recovery;

/// <summary>Wraps a logical unit and counts the commands it executes by operation code: proof that a retry ran nothing twice.</summary>
internal sealed class CountingLogicalUnit(ILogicalUnit inner) : ILogicalUnit
{
    private readonly int[] _executed = new int[256];

    public int Executed(byte opcode) => Volatile.Read(ref _executed[opcode]);

    /// <summary>READ (10) and READ (16) executed.</summary>
    public int Reads => Executed(0x28) + Executed(0x88);

    /// <summary>WRITE (10) and WRITE (16) executed.</summary>
    public int Writes => Executed(0x2a) + Executed(0x8a);

    public ValueTask<ScsiCommandResult> ExecuteAsync(IScsiTask task, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _executed[task.Cdb.Span[0]]);
        return inner.ExecuteAsync(task, cancellationToken);
    }

    public void Reset(LogicalUnitResetKind kind) => inner.Reset(kind);
    public void OnNexusLoss(in Iser.Core.Scsi.Target.Reservations.ItNexus nexus) => inner.OnNexusLoss(nexus);
    public void OnLunInventoryChanged() => inner.OnLunInventoryChanged();
    public void OnTasksClearedByAnotherInitiator(in Iser.Core.Scsi.Target.Reservations.ItNexus nexus) => inner.OnTasksClearedByAnotherInitiator(nexus);
    public ValueTask FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);
    public long BlockCount => inner.BlockCount;
    public int BlockSize => inner.BlockSize;
    public ValueTask DisposeAsync() => inner.DisposeAsync();
}

/// <summary>The recovery tests' target: one node (<see cref="InProcessTarget.Iqn"/>) whose LUN 0 is a counting RAM disk
/// of 16384 blocks of 512 bytes.</summary>
internal static class CountingTarget
{
    public static IscsiTarget Create(IscsiTargetOptions options, ILoggerFactory loggerFactory, out CountingLogicalUnit unit)
    {
        var target = new IscsiTarget(options, loggerFactory);
        unit = new CountingLogicalUnit(new BlockDeviceLogicalUnit(new RamBackingStore(16384 * 512), new BlockDeviceOptions { BlockSize = 512 }));
        var node = new TargetNode(InProcessTarget.Iqn);
        node.AddLun(0, unit);
        target.AddNode(node);
        return target;
    }

    /// <summary>Lets <paramref name="target"/> listen for iSCSI over TCP on a free loopback port.</summary>
    public static TcpDatamoverListener ListenOnLoopback(IscsiTarget target, ILoggerFactory loggerFactory)
    {
        var listener = new TcpDatamoverListener(new IPEndPoint(IPAddress.Loopback, 0), loggerFactory.CreateLogger("Iser.Tcp"));
        target.Listen(listener);
        return listener;
    }
}
