using System.Buffers.Binary;

namespace Iser.Core.Scsi.Target;

/// <summary>
/// The 8-byte LUN structure of SAM-5 §4.7 for single-level LUNs: peripheral device addressing for 0..255,
/// flat space addressing (01b) for 256..16383.
/// </summary>
public static class SamLun
{
    public const ulong MaxFlatLun = 0x3FFF;

    public static void Encode(ulong lun, Span<byte> destination)
    {
        if (destination.Length < 8) throw new ArgumentException("A LUN needs 8 bytes.", nameof(destination));
        destination[..8].Clear();
        if (lun <= 0xFF)
        {
            destination[1] = (byte)lun; // peripheral device addressing, bus 0
        }
        else if (lun <= MaxFlatLun)
        {
            BinaryPrimitives.WriteUInt16BigEndian(destination, (ushort)(0x4000 | lun));
        }
        else
        {
            throw new ArgumentOutOfRangeException(nameof(lun), $"LUN {lun} does not fit single-level flat addressing (at most {MaxFlatLun}).");
        }
    }

    /// <summary>The LUN number of a peripheral or flat-space 8-byte LUN; null for other address methods.</summary>
    public static ulong? Decode(ReadOnlySpan<byte> lun)
    {
        if (lun.Length < 8) return null;
        return (lun[0] >> 6) switch
        {
            0 when lun[0] == 0 => lun[1],
            1 => (ulong)(BinaryPrimitives.ReadUInt16BigEndian(lun) & 0x3FFF),
            _ => null,
        };
    }
}
