namespace Iser.Core.Iscsi.Pdus;

/// <summary>Response byte of a SCSI Response PDU (RFC 7143 §11.4.3): did the target deliver the command to the LU.</summary>
public enum ScsiResponseCode : byte
{
    CommandCompletedAtTarget = 0x00,
    TargetFailure = 0x01,
}

public static class ScsiResponseCodeExtensions
{
    public static string Describe(this ScsiResponseCode code) => code switch
    {
        ScsiResponseCode.CommandCompletedAtTarget => "The command completed at the target; its SCSI status tells how it went.",
        ScsiResponseCode.TargetFailure => "The target failed to execute the command (iSCSI target failure); no SCSI status is valid.",
        _ when (byte)code >= 0x80 => $"The target reported vendor-specific iSCSI response 0x{(byte)code:X2}; the command did not complete normally.",
        _ => $"The target reported iSCSI response 0x{(byte)code:X2}, which RFC 7143 reserves.",
    };
}
