using Iser.Core.Scsi.Target;
using Iser.Core.Scsi.Target.Alua;
using Iser.Core.Scsi.Target.Reservations;

namespace Iser.Core.Iscsi.Target;

/// <summary>What an <see cref="IscsiTarget"/> offers the logical units of its nodes outside a command.</summary>
internal sealed class TargetUnitHost(IscsiTarget target) : ILogicalUnitHost
{
    public AsymmetricAccessStates AccessStates => target.AccessStates;

    /// <summary>Every node that has <paramref name="unit"/> as a LUN: the tasks on it of the nexuses selected, on every connection.</summary>
    public async ValueTask<int> AbortTasksAsync(ILogicalUnit unit, Func<ItNexus, bool> whose)
    {
        int aborted = 0;
        foreach (var node in target.Nodes.ToArray())
        {
            if (node.Luns.Values.Contains(unit))
                aborted += await target.AbortTasksAsync(node, whose, t => ReferenceEquals(node.FindLun(t.Lun), unit)).ConfigureAwait(false);
        }
        return aborted;
    }
}
