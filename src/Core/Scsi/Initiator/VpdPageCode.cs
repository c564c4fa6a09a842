namespace Iser.Core.Scsi.Initiator;

/// <summary>Vital product data page codes (SPC-4, SBC-3) the initiator reads.</summary>
public static class VpdPageCode
{
    public const byte SupportedPages = 0x00;
    public const byte UnitSerialNumber = 0x80;
    public const byte DeviceIdentification = 0x83;
    public const byte BlockLimits = 0xB0;
    public const byte BlockDeviceCharacteristics = 0xB1;
    public const byte LogicalBlockProvisioning = 0xB2;
}
