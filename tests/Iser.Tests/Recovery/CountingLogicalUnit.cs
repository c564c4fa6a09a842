using Iser.Core.Scsi;
using Iser.Core.Scsi.Target;

namespace Iser.Tests.Recovery;

/// <summary>Wraps a logical unit and counts the commands it executes by operation code: proof that a retry ran nothing twice.</summary>
internal sealed class CountingLogicalUnit(ILogicalUnit inner) : ILogicalUnit
{
    private readonly int[] _executed = new int[256];

    public int Executed(byte opcode) => Volatile.Read(ref _executed[opcode]);

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
