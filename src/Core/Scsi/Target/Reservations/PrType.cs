namespace Iser.Core.Scsi.Target.Reservations;

/// <summary>Persistent reservation TYPE codes (SPC-4 §6.16.2); 0 is "no reservation" here, reserved there.</summary>
public enum PrType : byte
{
    None = 0,
    WriteExclusive = 1,
    ExclusiveAccess = 3,
    WriteExclusiveRegistrantsOnly = 5,
    ExclusiveAccessRegistrantsOnly = 6,
    WriteExclusiveAllRegistrants = 7,
    ExclusiveAccessAllRegistrants = 8,
}
