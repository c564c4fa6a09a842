namespace Iser.Core.Iscsi.Pdus;

/// <summary>Type field of a SNACK Request (RFC 7143 §11.16.1), the low 4 bits of byte 1.</summary>
public enum SnackType : byte
{
    DataR2T = 0,
    Status = 1,
    DataAck = 2,
    RData = 3,
}

public static class SnackTypeExtensions
{
    public static string Describe(this SnackType type) => type switch
    {
        SnackType.DataR2T => "Data/R2T SNACK: asks the target to resend Data-In or R2T PDUs from BegRun for RunLength.",
        SnackType.Status => "Status SNACK: asks the target to resend responses from StatSN BegRun for RunLength.",
        SnackType.DataAck => "DataACK: acknowledges Data-In PDUs up to (not including) BegRun.",
        SnackType.RData => "R-Data SNACK: asks the target to resend all data of the task, re-segmented to the current MaxRecvDataSegmentLength.",
        _ => $"SNACK type {(byte)type} is not defined by RFC 7143.",
    };
}
