namespace Iser.Core.Scsi.Target;

/// <summary>
/// A sense key with its additional sense code and qualifier (SPC-4 §4.5.6, table of ASC/ASCQ assignments):
/// the conditions a logical unit reports with CHECK CONDITION.
/// </summary>
public readonly record struct SenseCondition(byte Key, byte Asc, byte Ascq)
{
    // Sense keys (SPC-4 table 27).
    public const byte KeyNoSense = 0x00;
    public const byte KeyNotReady = 0x02;
    public const byte KeyMediumError = 0x03;
    public const byte KeyIllegalRequest = 0x05;
    public const byte KeyDataProtect = 0x07;
    public const byte KeyAbortedCommand = 0x0B;
    public const byte KeyMiscompare = 0x0E;

    public static SenseCondition NoSense => new(KeyNoSense, 0x00, 0x00);
    public static SenseCondition InvalidCommandOperationCode => new(KeyIllegalRequest, 0x20, 0x00);
    public static SenseCondition InvalidFieldInCdb => new(KeyIllegalRequest, 0x24, 0x00);
    public static SenseCondition InvalidFieldInParameterList => new(KeyIllegalRequest, 0x26, 0x00);
    public static SenseCondition InvalidFieldInInformationUnit => new(KeyIllegalRequest, 0x0E, 0x03);
    public static SenseCondition ParameterListLengthError => new(KeyIllegalRequest, 0x1A, 0x00);
    public static SenseCondition LogicalBlockAddressOutOfRange => new(KeyIllegalRequest, 0x21, 0x00);
    public static SenseCondition SavingParametersNotSupported => new(KeyIllegalRequest, 0x39, 0x00);
    public static SenseCondition MiscompareDuringVerify => new(KeyMiscompare, 0x1D, 0x00);
    public static SenseCondition WriteProtected => new(KeyDataProtect, 0x27, 0x00);
    public static SenseCondition NotReadyInitializingCommandRequired => new(KeyNotReady, 0x04, 0x02);
    public static SenseCondition SanitizeInProgress => new(KeyNotReady, 0x04, 0x1B);
    public static SenseCondition SanitizeCommandFailed => new(KeyMediumError, 0x31, 0x03);
    public static SenseCondition UnrecoveredReadError => new(KeyMediumError, 0x11, 0x00);
    public static SenseCondition WriteError => new(KeyMediumError, 0x0C, 0x00);
}
