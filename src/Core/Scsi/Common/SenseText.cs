namespace Iser.Core.Scsi;

/// <summary>Words for sense keys and whole sense triples (key, ASC, ASCQ).</summary>
public static class SenseText
{
    /// <summary>The SPC-4 name of a sense key, e.g. "ILLEGAL REQUEST".</summary>
    public static string Name(this SenseKey key) => key switch
    {
        SenseKey.NoSense => "NO SENSE",
        SenseKey.RecoveredError => "RECOVERED ERROR",
        SenseKey.NotReady => "NOT READY",
        SenseKey.MediumError => "MEDIUM ERROR",
        SenseKey.HardwareError => "HARDWARE ERROR",
        SenseKey.IllegalRequest => "ILLEGAL REQUEST",
        SenseKey.UnitAttention => "UNIT ATTENTION",
        SenseKey.DataProtect => "DATA PROTECT",
        SenseKey.BlankCheck => "BLANK CHECK",
        SenseKey.VendorSpecific => "VENDOR SPECIFIC",
        SenseKey.CopyAborted => "COPY ABORTED",
        SenseKey.AbortedCommand => "ABORTED COMMAND",
        SenseKey.Obsolete => "OBSOLETE SENSE KEY 0xC",
        SenseKey.VolumeOverflow => "VOLUME OVERFLOW",
        SenseKey.Miscompare => "MISCOMPARE",
        SenseKey.Completed => "COMPLETED",
        _ => $"SENSE KEY 0x{(byte)key:X}",
    };

    /// <summary>A sentence on what a sense key means for the command and what an initiator should do.</summary>
    public static string Describe(this SenseKey key) => key switch
    {
        SenseKey.NoSense => "NO SENSE: there is no error to report (the sense may carry a flag such as a filemark).",
        SenseKey.RecoveredError => "RECOVERED ERROR: the command completed after the device server recovered from an error.",
        SenseKey.NotReady => "NOT READY: the logical unit cannot be accessed now; it may become ready later or need intervention.",
        SenseKey.MediumError => "MEDIUM ERROR: a non-recoverable error in the medium or the recorded data.",
        SenseKey.HardwareError => "HARDWARE ERROR: a non-recoverable hardware failure in the device.",
        SenseKey.IllegalRequest => "ILLEGAL REQUEST: the command or its parameters are invalid; retrying it unchanged will fail again.",
        SenseKey.UnitAttention => "UNIT ATTENTION: the logical unit reports an event (reset, changed parameters or capacity); retry the command.",
        SenseKey.DataProtect => "DATA PROTECT: the command touches a block that is protected against this operation (e.g. write protected).",
        SenseKey.BlankCheck => "BLANK CHECK: blank medium or end of data was met on a read, or a write-once block was already written.",
        SenseKey.VendorSpecific => "VENDOR SPECIFIC: a vendor-specific condition.",
        SenseKey.CopyAborted => "COPY ABORTED: an EXTENDED COPY or similar command was aborted because of a copy source or destination error.",
        SenseKey.AbortedCommand => "ABORTED COMMAND: the device server aborted the command; retrying may succeed.",
        SenseKey.Obsolete => "OBSOLETE SENSE KEY 0xC: formerly EQUAL, no longer defined.",
        SenseKey.VolumeOverflow => "VOLUME OVERFLOW: a buffered device reached the end of its partition with data still to write.",
        SenseKey.Miscompare => "MISCOMPARE: the data on the medium did not match the data sent (VERIFY or COMPARE AND WRITE).",
        SenseKey.Completed => "COMPLETED: the command completed and the sense carries completion information.",
        _ => $"SENSE KEY 0x{(byte)key:X}: not a defined sense key.",
    };

    /// <summary>"SENSE KEY NAME: ASC TEXT (0xAA/0xQQ)".</summary>
    public static string Describe(SenseKey key, byte asc, byte ascq) =>
        $"{key.Name()}: {AdditionalSenseCodes.Describe(asc, ascq)} (0x{asc:X2}/0x{ascq:X2})";
}
