namespace Iser.Core.Scsi;

/// <summary>Words for SAM-5 status codes.</summary>
public static class ScsiStatusExtensions
{
    /// <summary>The SAM name of the status, e.g. "CHECK CONDITION", or "STATUS 0x.." for a code SAM does not define.</summary>
    public static string Name(this ScsiStatus status) => status switch
    {
        ScsiStatus.Good => "GOOD",
        ScsiStatus.CheckCondition => "CHECK CONDITION",
        ScsiStatus.ConditionMet => "CONDITION MET",
        ScsiStatus.Busy => "BUSY",
        ScsiStatus.ReservationConflict => "RESERVATION CONFLICT",
        ScsiStatus.TaskSetFull => "TASK SET FULL",
        ScsiStatus.AcaActive => "ACA ACTIVE",
        ScsiStatus.TaskAborted => "TASK ABORTED",
        _ => $"STATUS 0x{(byte)status:X2}",
    };

    /// <summary>A sentence saying what the status means to an initiator.</summary>
    public static string Describe(this ScsiStatus status) => status switch
    {
        ScsiStatus.Good => "GOOD: the command completed successfully.",
        ScsiStatus.CheckCondition => "CHECK CONDITION: the command failed; sense data says why.",
        ScsiStatus.ConditionMet => "CONDITION MET: the requested condition (e.g. PRE-FETCH fits in cache) is satisfied.",
        ScsiStatus.Busy => "BUSY: the logical unit is temporarily unable to accept the command; retry later.",
        ScsiStatus.ReservationConflict => "RESERVATION CONFLICT: another initiator holds a reservation that forbids this command.",
        ScsiStatus.TaskSetFull => "TASK SET FULL: the logical unit has no room for another command; retry after one completes.",
        ScsiStatus.AcaActive => "ACA ACTIVE: an auto contingent allegiance is in effect; only ACA commands are accepted.",
        ScsiStatus.TaskAborted => "TASK ABORTED: the command was aborted by another I_T nexus or by a task management function.",
        _ => $"STATUS 0x{(byte)status:X2}: a status code SAM-5 does not define.",
    };
}
