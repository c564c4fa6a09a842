namespace Iser.Core.Scsi;

/// <summary>
/// An ASC/ASCQ pair, with the values a block-device target and its initiator meet most often named for use in code.
/// </summary>
public readonly record struct AdditionalSenseCode(byte Asc, byte Ascq)
{
    public static AdditionalSenseCode NoAdditionalSenseInformation => new(0x00, 0x00);
    public static AdditionalSenseCode LogicalUnitNotReadyCauseNotReportable => new(0x04, 0x00);
    public static AdditionalSenseCode LogicalUnitBecomingReady => new(0x04, 0x01);
    public static AdditionalSenseCode LogicalUnitNotReadyInitializingCommandRequired => new(0x04, 0x02);
    public static AdditionalSenseCode LogicalUnitNotReadyManualIntervention => new(0x04, 0x03);
    public static AdditionalSenseCode LogicalUnitCommunicationFailure => new(0x08, 0x00);
    public static AdditionalSenseCode WriteError => new(0x0C, 0x00);
    public static AdditionalSenseCode LogicalBlockGuardCheckFailed => new(0x10, 0x01);
    public static AdditionalSenseCode UnrecoveredReadError => new(0x11, 0x00);
    public static AdditionalSenseCode ParameterListLengthError => new(0x1A, 0x00);
    public static AdditionalSenseCode MiscompareDuringVerify => new(0x1D, 0x00);
    public static AdditionalSenseCode InvalidCommandOperationCode => new(0x20, 0x00);
    public static AdditionalSenseCode LogicalBlockAddressOutOfRange => new(0x21, 0x00);
    public static AdditionalSenseCode InvalidFieldInCdb => new(0x24, 0x00);
    public static AdditionalSenseCode LogicalUnitNotSupported => new(0x25, 0x00);
    public static AdditionalSenseCode InvalidFieldInParameterList => new(0x26, 0x00);
    public static AdditionalSenseCode WriteProtected => new(0x27, 0x00);
    public static AdditionalSenseCode PowerOnResetOrBusDeviceReset => new(0x29, 0x00);
    public static AdditionalSenseCode PowerOnOccurred => new(0x29, 0x01);
    public static AdditionalSenseCode BusDeviceResetFunctionOccurred => new(0x29, 0x03);
    public static AdditionalSenseCode ITNexusLossOccurred => new(0x29, 0x07);
    public static AdditionalSenseCode ModeParametersChanged => new(0x2A, 0x01);
    public static AdditionalSenseCode CapacityDataHasChanged => new(0x2A, 0x09);
    public static AdditionalSenseCode CommandSequenceError => new(0x2C, 0x00);
    public static AdditionalSenseCode CommandsClearedByAnotherInitiator => new(0x2F, 0x00);
    public static AdditionalSenseCode MediumNotPresent => new(0x3A, 0x00);
    public static AdditionalSenseCode InquiryDataHasChanged => new(0x3F, 0x03);
    public static AdditionalSenseCode ReportedLunsDataHasChanged => new(0x3F, 0x0E);
    public static AdditionalSenseCode InternalTargetFailure => new(0x44, 0x00);
    public static AdditionalSenseCode DataPhaseError => new(0x4B, 0x00);
    public static AdditionalSenseCode OverlappedCommandsAttempted => new(0x4E, 0x00);
    public static AdditionalSenseCode SystemResourceFailure => new(0x55, 0x00);
    public static AdditionalSenseCode InsufficientResources => new(0x55, 0x03);

    /// <summary>The SPC-4 text for this code, e.g. "LOGICAL BLOCK ADDRESS OUT OF RANGE".</summary>
    public string Text => AdditionalSenseCodes.Describe(Asc, Ascq);

    public override string ToString() => $"{Text} (0x{Asc:X2}/0x{Ascq:X2})";
}
