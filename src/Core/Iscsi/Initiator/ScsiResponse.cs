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

    /// <summary>Decoded sense (key, ASC/ASCQ and their words), or null without (decodable) sense data.</summary>
    public Scsi.SenseData? Sense => Scsi.SenseData.TryParse(SenseData.Span, out var sense) ? sense : null;

    /// <summary>"GOOD", or e.g. "CHECK CONDITION: ILLEGAL REQUEST: LOGICAL BLOCK ADDRESS OUT OF RANGE (0x21/0x00)".</summary>
    public string Describe() => Sense is { } s ? $"{Status.Name()}: {s.Describe()}" : Status.Name();

    /// <summary>The exception a caller throws for a non-GOOD outcome of <paramref name="command"/> (e.g. "READ(10)").</summary>
    public ScsiCommandException ToException(string command) => ScsiCommandException.FromRawSense(Status, SenseData.Span, command);

    public override string ToString() => Describe();
}
