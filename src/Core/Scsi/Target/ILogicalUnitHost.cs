using Iser.Core.Scsi.Target.Alua;
using Iser.Core.Scsi.Target.Reservations;

namespace Iser.Core.Scsi.Target;

/// <summary>
/// What a logical unit sees of the target serving it outside any one command: the target's ALUA states (which a unit
/// over a shared store publishes for the other targets of its medium) and a way to abort the tasks of some nexuses
/// (PREEMPT AND ABORT run by another target of the medium).
/// </summary>
public interface ILogicalUnitHost
{
    /// <summary>The asymmetric access state of each of the target's port groups.</summary>
    AsymmetricAccessStates AccessStates { get; }

    /// <summary>
    /// Aborts the tasks on <paramref name="unit"/> of the nexuses <paramref name="whose"/> selects and waits until they
    /// have left the unit. Returns how many were aborted.
    /// </summary>
    ValueTask<int> AbortTasksAsync(ILogicalUnit unit, Func<ItNexus, bool> whose);
}
