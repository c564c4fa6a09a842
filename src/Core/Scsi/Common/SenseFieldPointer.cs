namespace Iser.Core.Scsi;

/// <summary>
/// The sense-key-specific field pointer of an ILLEGAL REQUEST (SPC-4): where in the CDB or the
/// parameter list the device server found the bad field.
/// </summary>
public readonly record struct SenseFieldPointer(bool InCdb, ushort ByteOffset, byte? BitPosition)
{
    public string Describe() =>
        $"bad field at {(InCdb ? "CDB" : "parameter list")} byte {ByteOffset}" + (BitPosition is { } b ? $" bit {b}" : "");
}
