namespace Iser.Core.Scsi;

/// <summary>
/// The 8-byte LUN field (SAM-5 §4.7): LUNs below 256 use peripheral device addressing (byte 1), larger ones
/// flat space addressing (method 01b, 14 bits). This is how Linux, libiscsi and tgt number LUNs.
/// </summary>
public static class LunAddressing
{
    public const int MaxLun = 16383;

    public static ulong Encode(int lun)
    {
        if ((uint)lun > MaxLun) throw new ArgumentOutOfRangeException(nameof(lun), $"LUN {lun} is outside 0..{MaxLun}.");
        ulong first = lun < 256 ? (ulong)lun : 0x4000UL | (ulong)lun;
        return first << 48;
    }

    /// <summary>Decodes the first level of the LUN field; -1 when the addressing method is not one we serve.</summary>
    public static int Decode(ulong lunField)
    {
        int first = (int)(lunField >> 48);
        if ((lunField & 0x0000ffffffffffffUL) != 0) return -1;
        return (first >> 14) switch
        {
            0 => (first >> 8) == 0 ? first & 0xff : -1,
            1 => first & 0x3fff,
            _ => -1,
        };
    }
}
