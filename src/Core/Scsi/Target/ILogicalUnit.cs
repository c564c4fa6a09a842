using Iser.Core.Scsi.Target.Reservations;

namespace Iser.Core.Scsi.Target;

/// <summary>A SCSI logical unit behind a target (SBC block device over a backing store).</summary>
public interface ILogicalUnit : IAsyncDisposable
{
    /// <summary>Execute one command. Never throws for a bad CDB: that is CHECK CONDITION with sense.</summary>
    ValueTask<ScsiCommandResult> ExecuteAsync(IScsiTask task, CancellationToken cancellationToken);

    /// <summary>Abort / LU reset handling: forget any per-LU state tied to outstanding commands (e.g. unit attention).</summary>
    void Reset(LogicalUnitResetKind kind);

    /// <summary>
    /// The I_T nexus ended (logout, a lost connection not recovered, session reinstatement): state held for it alone,
    /// such as a RESERVE(6)/(10) reservation, goes (SPC-2 §5.5.1). Nothing by default.
    /// </summary>
    void OnNexusLoss(in ItNexus nexus) { }

    /// <summary>LUNs were added to or removed from the target node: REPORTED LUNS DATA HAS CHANGED for every nexus. Nothing by default.</summary>
    void OnLunInventoryChanged() { }

    /// <summary>CLEAR TASK SET from another nexus ended tasks of <paramref name="nexus"/> (COMMANDS CLEARED BY ANOTHER INITIATOR). Nothing by default.</summary>
    void OnTasksClearedByAnotherInitiator(in ItNexus nexus) { }

    /// <summary>
    /// The asymmetric access state of a target port group changed: ASYMMETRIC ACCESS STATE CHANGED for every nexus but
    /// <paramref name="except"/> (the one whose SET TARGET PORT GROUPS made the change). Nothing by default.
    /// </summary>
    void OnAsymmetricAccessStateChanged(ItNexus? except) { }

    /// <summary>
    /// The unit now serves in a target (added to one of its nodes): what it may need of the target outside a command.
    /// Called once per target; nothing by default.
    /// </summary>
    void AttachHost(ILogicalUnitHost host) { }

    /// <summary>Flush write-back state (SYNCHRONIZE CACHE semantics), used at shutdown.</summary>
    ValueTask FlushAsync(CancellationToken cancellationToken);

    long BlockCount { get; }
    int BlockSize { get; }
}

public enum LogicalUnitResetKind { LogicalUnitReset, TargetWarmReset, TargetColdReset }
