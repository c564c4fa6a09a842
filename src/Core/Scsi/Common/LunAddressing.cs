namespace Iser.Core.Scsi;

/// <summary>
/// SAM-5 single-level LUN encoding, as carried in the iSCSI LUN field and REPORT LUNS: LUNs 0-255 use
/// peripheral device addressing (byte 0 = 0x00, byte 1 = LUN), LUNs 256-16383 flat space addressing
/// (byte 0 = 0x40 | LUN high 6 bits, byte 1 = LUN low 8 bits). Bytes 2-7 are zero.
/// </summary>
public static class LunAddressing
{
    public const int MaxFlatLun = 0x3fff;

    /// <summary>The 8-byte LUN (big-endian in a ulong, byte 0 most significant) for a LUN number.</summary>
    public static ulong Encode(int lun)
    {
        if ((uint)lun > MaxFlatLun)
            throw new ArgumentOutOfRangeException(nameof(lun), lun, "A single-level LUN is 0-16383.");
        ulong top = lun < 256 ? (ulong)lun : 0x4000UL | (uint)lun;
        return top << 48;
    }

    /// <summary>
    /// Decodes a single-level peripheral or flat-space LUN to its number. Fails for multi-level LUNs, logical unit
    /// and extended addressing (including well-known LUNs).
    /// </summary>
    public static bool TryDecode(ulong lun, out int number)
    {
        number = -1;
        if ((lun & 0x0000_ffff_ffff_ffffUL) != 0) return false; // second..fourth level present
        byte b0 = (byte)(lun >> 56), b1 = (byte)(lun >> 48);
        switch (b0 >> 6)
        {
            case 0b00 when (b0 & 0x3f) == 0: // peripheral device addressing, bus identifier 0
                number = b1;
                return true;
            case 0b01: // flat space addressing
                number = ((b0 & 0x3f) << 8) | b1;
                return true;
            default:
                return false;
        }
    }

    public static int Decode(ulong lun) =>
        TryDecode(lun, out int n)
            ? n
            : throw new ScsiDataFormatException(
                $"LUN 0x{lun:X16} is not a single-level peripheral or flat-space LUN ({DescribeMethod(lun)}), so it has no plain LUN number.");

    /// <summary>The addressing method named in words, for messages.</summary>
    public static string DescribeMethod(ulong lun)
    {
        if ((lun & 0x0000_ffff_ffff_ffffUL) != 0) return "multi-level LUN";
        byte b0 = (byte)(lun >> 56);
        return (b0 >> 6) switch
        {
            0b00 => (b0 & 0x3f) == 0 ? "peripheral device addressing" : $"peripheral device addressing on bus {b0 & 0x3f}",
            0b01 => "flat space addressing",
            0b10 => "logical unit addressing",
            _ => b0 == 0xC1 ? "well-known LUN" : "extended addressing",
        };
    }
}
