namespace Iser.Core.Scsi.Initiator;

/// <summary>CODE SET of a device identification descriptor: how the designator bytes are encoded.</summary>
public enum DesignatorCodeSet : byte
{
    Binary = 0x1,
    Ascii = 0x2,
    Utf8 = 0x3,
}
