using System.Buffers.Binary;

namespace Iser.Core.Scsi.Target;

/// <summary>
/// Builds fixed-format sense data (SPC-4 §4.5.3, response code 70h): 18 bytes with sense key, ASC/ASCQ,
/// an optional INFORMATION field (VALID bit) and an optional field pointer for ILLEGAL REQUEST
/// (sense-key specific bytes, §4.5.2.4.2) telling the initiator which CDB or parameter byte was wrong.
/// </summary>
public static class SenseBuilder
{
    public const int FixedLength = 18;
    private const byte CurrentFixed = 0x70;

    /// <summary>Sense data without INFORMATION or field pointer.</summary>
    public static byte[] Fixed(SenseCondition condition) => Build(condition, null, null);

    /// <summary>Sense data whose INFORMATION field carries <paramref name="information"/> (e.g. a miscompare offset) with VALID set.</summary>
    public static byte[] WithInformation(SenseCondition condition, uint information) => Build(condition, information, null);

    /// <summary>
    /// Sense data whose sense-key specific bytes carry a PROGRESS INDICATION (SPC-4 §4.5.2.4.4): SKSV set and
    /// <paramref name="progress"/> out of 65536, e.g. for NOT READY, SANITIZE IN PROGRESS.
    /// </summary>
    public static byte[] WithProgress(SenseCondition condition, ushort progress)
    {
        var sense = Build(condition, null, null);
        sense[15] = 0x80;
        BinaryPrimitives.WriteUInt16BigEndian(sense.AsSpan(16, 2), progress);
        return sense;
    }

    /// <summary>INVALID FIELD IN CDB (or another ILLEGAL REQUEST) pointing at CDB byte <paramref name="byteIndex"/>, optionally at one bit.</summary>
    public static byte[] CdbField(SenseCondition condition, int byteIndex, int? bit = null) =>
        Build(condition, null, new FieldPointer(true, byteIndex, bit));

    /// <summary>INVALID FIELD IN PARAMETER LIST pointing at parameter byte <paramref name="byteIndex"/>.</summary>
    public static byte[] ParameterField(SenseCondition condition, int byteIndex, int? bit = null) =>
        Build(condition, null, new FieldPointer(false, byteIndex, bit));

    private readonly record struct FieldPointer(bool InCdb, int ByteIndex, int? Bit);

    private static byte[] Build(SenseCondition condition, uint? information, FieldPointer? pointer)
    {
        var sense = new byte[FixedLength];
        sense[0] = (byte)(CurrentFixed | (information.HasValue ? 0x80 : 0x00));
        sense[2] = (byte)(condition.Key & 0x0F);
        if (information is { } info) BinaryPrimitives.WriteUInt32BigEndian(sense.AsSpan(3, 4), info);
        sense[7] = FixedLength - 8; // additional sense length
        sense[12] = condition.Asc;
        sense[13] = condition.Ascq;
        if (pointer is { } p)
        {
            // SKSV | C/D | BPV | bit pointer, then the 16-bit field pointer.
            byte b = 0x80;
            if (p.InCdb) b |= 0x40;
            if (p.Bit is { } bit) b |= (byte)(0x08 | (bit & 0x07));
            sense[15] = b;
            BinaryPrimitives.WriteUInt16BigEndian(sense.AsSpan(16, 2), (ushort)p.ByteIndex);
        }
        return sense;
    }
}
