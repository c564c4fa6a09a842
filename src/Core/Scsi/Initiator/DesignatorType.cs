namespace Iser.Core.Scsi.Initiator;

/// <summary>DESIGNATOR TYPE of a device identification descriptor (SPC-4).</summary>
public enum DesignatorType : byte
{
    VendorSpecific = 0x0,
    T10VendorId = 0x1,
    Eui64 = 0x2,
    Naa = 0x3,
    RelativeTargetPort = 0x4,
    TargetPortGroup = 0x5,
    LogicalUnitGroup = 0x6,
    Md5LogicalUnitIdentifier = 0x7,
    ScsiNameString = 0x8,
    ProtocolSpecificPortIdentifier = 0x9,
    Uuid = 0xA,
}
