using System.Buffers.Binary;

namespace Iser.Core.Scsi.Initiator;

/// <summary>
/// REPORT LUNS parameter data (SPC-4): an 8-byte header whose LUN LIST LENGTH counts the bytes of 8-byte
/// LUN entries that follow. When the allocation length was too small the list is cut short; that is reported
/// (<see cref="IsComplete"/>, <see cref="RequiredAllocationLength"/>) so the caller can ask again with more room.
/// </summary>
public sealed class ReportLunsData
{
    public const int HeaderLength = 8;

    /// <summary>The LUNs that arrived, each as the 8-byte LUN in a big-endian ulong.</summary>
    public IReadOnlyList<ulong> Luns { get; private init; } = [];
    /// <summary>LUN LIST LENGTH as the device server reported it (bytes, 8 per LUN).</summary>
    public uint LunListLength { get; private init; }
    /// <summary>The allocation length that returns the whole list.</summary>
    public long RequiredAllocationLength => HeaderLength + (long)LunListLength;
    /// <summary>Whether every LUN the device server has was in the data.</summary>
    public bool IsComplete => Luns.Count * 8L >= LunListLength;

    private ReportLunsData() { }

    public static ReportLunsData Parse(ReadOnlySpan<byte> data)
    {
        ScsiDataFormatException.ThrowIfShorter("REPORT LUNS data", data.Length, HeaderLength, "the LUN LIST LENGTH header");
        uint listLength = BinaryPrimitives.ReadUInt32BigEndian(data);
        if (listLength % 8 != 0)
            throw new ScsiDataFormatException(
                $"REPORT LUNS data has LUN LIST LENGTH {listLength}, which is not a multiple of the 8-byte LUN size.");
        long present = Math.Min(listLength, data.Length - HeaderLength) / 8;
        var luns = new ulong[present];
        for (int i = 0; i < luns.Length; i++)
            luns[i] = BinaryPrimitives.ReadUInt64BigEndian(data.Slice(HeaderLength + i * 8, 8));
        return new ReportLunsData { Luns = luns, LunListLength = listLength };
    }

    /// <summary>The LUN numbers of the single-level peripheral / flat LUNs in the list (others are skipped).</summary>
    public IEnumerable<int> LunNumbers()
    {
        foreach (var lun in Luns)
            if (LunAddressing.TryDecode(lun, out int n)) yield return n;
    }
}
