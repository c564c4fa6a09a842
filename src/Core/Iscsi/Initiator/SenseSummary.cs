namespace Iser.Core.Iscsi.Initiator;

/// <summary>
/// The essentials of SCSI sense data (SPC-4 §4.5): sense key and additional sense code/qualifier, from either the
/// fixed (0x70/0x71) or descriptor (0x72/0x73) format, with words for the common codes. A minimal decoder kept
/// here so the initiator stands alone; the full table lives with the SCSI layer.
/// </summary>
public sealed record SenseSummary(byte SenseKey, byte Asc, byte Ascq, bool Deferred)
{
    public static SenseSummary? TryParse(ReadOnlySpan<byte> sense)
    {
        if (sense.Length < 2) return null;
        int code = sense[0] & 0x7f;
        if (code is 0x70 or 0x71)
        {
            if (sense.Length < 3) return null;
            byte asc = sense.Length > 12 ? sense[12] : (byte)0, ascq = sense.Length > 13 ? sense[13] : (byte)0;
            return new SenseSummary((byte)(sense[2] & 0x0f), asc, ascq, code == 0x71);
        }
        if (code is 0x72 or 0x73)
        {
            if (sense.Length < 4) return null;
            return new SenseSummary((byte)(sense[1] & 0x0f), sense[2], sense[3], code == 0x73);
        }
        return null;
    }

    public string SenseKeyName => SenseKey switch
    {
        0x0 => "NO SENSE",
        0x1 => "RECOVERED ERROR",
        0x2 => "NOT READY",
        0x3 => "MEDIUM ERROR",
        0x4 => "HARDWARE ERROR",
        0x5 => "ILLEGAL REQUEST",
        0x6 => "UNIT ATTENTION",
        0x7 => "DATA PROTECT",
        0x8 => "BLANK CHECK",
        0x9 => "VENDOR SPECIFIC",
        0xa => "COPY ABORTED",
        0xb => "ABORTED COMMAND",
        0xd => "VOLUME OVERFLOW",
        0xe => "MISCOMPARE",
        _ => $"sense key 0x{SenseKey:x}",
    };

    public string? AdditionalSenseText => ((Asc << 8) | Ascq) switch
    {
        0x0000 => "NO ADDITIONAL SENSE INFORMATION",
        0x0400 => "LOGICAL UNIT NOT READY, CAUSE NOT REPORTABLE",
        0x0401 => "LOGICAL UNIT IS IN PROCESS OF BECOMING READY",
        0x0c00 => "WRITE ERROR",
        0x1100 => "UNRECOVERED READ ERROR",
        0x1a00 => "PARAMETER LIST LENGTH ERROR",
        0x2000 => "INVALID COMMAND OPERATION CODE",
        0x2100 => "LOGICAL BLOCK ADDRESS OUT OF RANGE",
        0x2400 => "INVALID FIELD IN CDB",
        0x2500 => "LOGICAL UNIT NOT SUPPORTED",
        0x2600 => "INVALID FIELD IN PARAMETER LIST",
        0x2700 => "WRITE PROTECTED",
        0x2900 => "POWER ON, RESET, OR BUS DEVICE RESET OCCURRED",
        0x2a01 => "MODE PARAMETERS CHANGED",
        0x2a09 => "CAPACITY DATA HAS CHANGED",
        0x3a00 => "MEDIUM NOT PRESENT",
        0x4400 => "INTERNAL TARGET FAILURE",
        0x4705 => "PROTOCOL SERVICE CRC ERROR",
        0x0e03 => "INVALID FIELD IN COMMAND INFORMATION UNIT",
        0x1d00 => "MISCOMPARE DURING VERIFY OPERATION",
        _ => null,
    };

    public override string ToString()
    {
        string code = $"0x{Asc:x2}/0x{Ascq:x2}";
        string text = AdditionalSenseText is { } t ? $"{t} ({code})" : $"ASC/ASCQ {code}";
        return $"{SenseKeyName}, {text}{(Deferred ? " (deferred)" : "")}";
    }
}
