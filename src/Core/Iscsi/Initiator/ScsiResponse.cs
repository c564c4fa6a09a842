using Iser.Core.Scsi;

namespace Iser.Core.Iscsi.Initiator;

/// <summary>
/// How a SCSI command ended: status, sense data (with CHECK CONDITION), and the residual the target reported
/// (RFC 7143 §11.4.5). <see cref="TransferredLength"/> is how much of the buffer the command really used.
/// </summary>
public readonly struct ScsiResponse
{
    public ScsiStatus Status { get; init; }
    /// <summary>Raw sense data (fixed or descriptor format), empty when the target sent none.</summary>
    public ReadOnlyMemory<byte> SenseData { get; init; }
    /// <summary>The command wanted more data than the buffer held (O bit).</summary>
    public bool ResidualOverflow { get; init; }
    /// <summary>The command moved less data than the buffer held (U bit).</summary>
    public bool ResidualUnderflow { get; init; }
    public int ResidualCount { get; init; }
    /// <summary>Bytes actually transferred: the buffer length less an underflow residual.</summary>
    public int TransferredLength { get; init; }

    public bool IsGood => Status == ScsiStatus.Good;

    /// <summary>Decoded sense (key, ASC/ASCQ and their words), or null without sense data.</summary>
    public SenseSummary? Sense => SenseSummary.TryParse(SenseData.Span);

    /// <summary>"GOOD", or e.g. "CHECK CONDITION: ILLEGAL REQUEST, LOGICAL BLOCK ADDRESS OUT OF RANGE (0x21/0x00)".</summary>
    public string Describe()
    {
        string status = StatusWords(Status);
        return Sense is { } s ? $"{status}: {s}" : status;
    }

    public override string ToString() => Describe();

    public static string StatusWords(ScsiStatus status) => status switch
    {
        ScsiStatus.Good => "GOOD",
        ScsiStatus.CheckCondition => "CHECK CONDITION",
        ScsiStatus.ConditionMet => "CONDITION MET",
        ScsiStatus.Busy => "BUSY",
        ScsiStatus.ReservationConflict => "RESERVATION CONFLICT",
        ScsiStatus.TaskSetFull => "TASK SET FULL",
        ScsiStatus.AcaActive => "ACA ACTIVE",
        ScsiStatus.TaskAborted => "TASK ABORTED",
        _ => $"status 0x{(byte)status:x2}",
    };
}
