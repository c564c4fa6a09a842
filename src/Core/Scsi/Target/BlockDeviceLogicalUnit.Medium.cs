using Iser.Core.Scsi.Target.Reservations;

namespace Iser.Core.Scsi.Target;

// The medium: with BlockDeviceOptions.Removable one that START STOP UNIT ejects and loads, whose removal each nexus may
// prevent (PREVENT ALLOW MEDIUM REMOVAL) (SBC-4 §5.17, §5.25, SPC-4 §6.15). _stopped is true while it is ejected.
public sealed partial class BlockDeviceLogicalUnit
{
    private static readonly SenseCondition MediumNotPresent = new(0x02, 0x3A, 0x00);
    private static readonly SenseCondition MediumRemovalPrevented = new(0x05, 0x53, 0x02);

    // Nexuses that prevent removal: the medium stays while any does; each nexus's goes with it, all go with a reset.
    private readonly HashSet<ItNexus> _preventing = new();
    private volatile bool _ejected;

    /// <summary>Why the medium cannot be used now: no medium (ejected), or stopped.</summary>
    private SenseCondition NotReady => _ejected ? MediumNotPresent : SenseCondition.NotReadyInitializingCommandRequired;

    private bool RemovalPrevented { get { lock (_preventing) return _preventing.Count > 0; } }

    /// <summary>
    /// START STOP UNIT. Power conditions are not modelled: a POWER CONDITION other than 0 is accepted and, as SBC-4
    /// says, START and LOEJ are then ignored. START alone changes nothing either: a LUN shared by a cluster must not go
    /// NOT READY for every initiator because one of them stopped it on its way down (Linux sends a stop at shutdown);
    /// LIO and tgt do the same, and libiscsi's StartStopUnit tests expect it. What remains is LOEJ on a removable
    /// medium: eject (START 0) and load (START 1), refused while a nexus prevents removal.
    /// </summary>
    private ScsiCommandResult StartStopUnit(ReadOnlySpan<byte> cdb)
    {
        byte b4 = cdb[4];
        if ((b4 & 0xF0) != 0) return ScsiCommandResult.Good();
        bool start = (b4 & 0x01) != 0, loadEject = (b4 & 0x02) != 0;
        if (!loadEject || !_options.Removable) return ScsiCommandResult.Good();
        // Neither eject nor load while a nexus prevents removal (SBC-4 §5.25: MEDIUM REMOVAL PREVENTED).
        if (RemovalPrevented) return Check(MediumRemovalPrevented);
        _ejected = !start;
        _stopped = _ejected;
        return ScsiCommandResult.Good();
    }

    private ScsiCommandResult PreventAllowMediumRemoval(IScsiTask task, ReadOnlySpan<byte> cdb)
    {
        int prevent = cdb[4] & 0x03;
        if (prevent > 1) return InvalidField(4, 1); // 10b and 11b: obsolete / reserved for disks
        // A fixed medium has nothing to lock, and nothing to refuse either (SBC-4 §5.17).
        if (!_options.Removable) return ScsiCommandResult.Good();
        lock (_preventing)
        {
            if (prevent == 1) _preventing.Add(task.Nexus);
            else _preventing.Remove(task.Nexus);
        }
        return ScsiCommandResult.Good();
    }

    /// <summary>A nexus ended: its prevention goes.</summary>
    private void ReleasePrevention(in ItNexus nexus)
    {
        lock (_preventing) _preventing.Remove(nexus);
    }

    /// <summary>A reset: every prevention goes (SPC-4 §6.15: a power on or hard reset clears them).</summary>
    private void ClearPreventions()
    {
        lock (_preventing) _preventing.Clear();
    }
}
