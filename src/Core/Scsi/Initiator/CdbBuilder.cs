using System.Buffers.Binary;

namespace Iser.Core.Scsi.Initiator;

/// <summary>
/// Writes CDBs into a caller's buffer (no allocation) and returns the CDB length. Field positions follow SPC-4
/// (INQUIRY, MODE SENSE, REPORT LUNS, REQUEST SENSE, TEST UNIT READY) and SBC-3 (block commands). Every byte of
/// the CDB is written, so the buffer need not be cleared; the CONTROL byte is always 0 (no NACA, no linking).
/// </summary>
public static class CdbBuilder
{
    /// <summary>The longest CDB written here (and the size of the iSCSI BHS CDB field).</summary>
    public const int MaxCdbLength = 16;

    // Byte 1 flag bits shared by the READ/WRITE/VERIFY/COMPARE AND WRITE family (SBC-3).
    private const byte DpoBit = 0x10;
    private const byte FuaBit = 0x08;

    public static int TestUnitReady(Span<byte> cdb)
    {
        Begin(cdb, 6, CdbOperationCode.TestUnitReady);
        return 6;
    }

    /// <summary>REQUEST SENSE (SPC-4); <paramref name="descriptorFormat"/> asks for 0x72/0x73 sense.</summary>
    public static int RequestSense(Span<byte> cdb, byte allocationLength, bool descriptorFormat = false)
    {
        var c = Begin(cdb, 6, CdbOperationCode.RequestSense);
        if (descriptorFormat) c[1] = 0x01;
        c[4] = allocationLength;
        return 6;
    }

    /// <summary>INQUIRY for standard data (SPC-4): EVPD 0, page code 0.</summary>
    public static int Inquiry(Span<byte> cdb, ushort allocationLength)
    {
        var c = Begin(cdb, 6, CdbOperationCode.Inquiry);
        BinaryPrimitives.WriteUInt16BigEndian(c[3..], allocationLength);
        return 6;
    }

    /// <summary>INQUIRY for a vital product data page (EVPD 1).</summary>
    public static int InquiryVpd(Span<byte> cdb, byte pageCode, ushort allocationLength)
    {
        var c = Begin(cdb, 6, CdbOperationCode.Inquiry);
        c[1] = 0x01;
        c[2] = pageCode;
        BinaryPrimitives.WriteUInt16BigEndian(c[3..], allocationLength);
        return 6;
    }

    /// <summary>MODE SENSE(6) (SPC-4).</summary>
    public static int ModeSense6(Span<byte> cdb, byte pageCode, byte subpageCode, byte allocationLength,
        ModePageControl pageControl = ModePageControl.Current, bool disableBlockDescriptors = false)
    {
        var c = Begin(cdb, 6, CdbOperationCode.ModeSense6);
        if (disableBlockDescriptors) c[1] = 0x08;
        c[2] = PageControlAndCode(pageControl, pageCode);
        c[3] = subpageCode;
        c[4] = allocationLength;
        return 6;
    }

    /// <summary>MODE SENSE(10) (SPC-4); <paramref name="longLbaAccepted"/> sets LLBAA.</summary>
    public static int ModeSense10(Span<byte> cdb, byte pageCode, byte subpageCode, ushort allocationLength,
        ModePageControl pageControl = ModePageControl.Current, bool disableBlockDescriptors = false, bool longLbaAccepted = false)
    {
        var c = Begin(cdb, 10, CdbOperationCode.ModeSense10);
        c[1] = (byte)((longLbaAccepted ? 0x10 : 0) | (disableBlockDescriptors ? 0x08 : 0));
        c[2] = PageControlAndCode(pageControl, pageCode);
        c[3] = subpageCode;
        BinaryPrimitives.WriteUInt16BigEndian(c[7..], allocationLength);
        return 10;
    }

    /// <summary>START STOP UNIT (SBC-3). <paramref name="powerCondition"/> is the 4-bit POWER CONDITION field.</summary>
    public static int StartStopUnit(Span<byte> cdb, bool start, bool loadEject = false, bool immediate = false,
        byte powerCondition = 0, bool noFlush = false)
    {
        if (powerCondition > 0x0f)
            throw new ArgumentOutOfRangeException(nameof(powerCondition), powerCondition, "POWER CONDITION is a 4-bit field (0-15).");
        var c = Begin(cdb, 6, CdbOperationCode.StartStopUnit);
        if (immediate) c[1] = 0x01;
        c[4] = (byte)((powerCondition << 4) | (noFlush ? 0x04 : 0) | (loadEject ? 0x02 : 0) | (start ? 0x01 : 0));
        return 6;
    }

    /// <summary>READ CAPACITY(10) (SBC-3): LBA and PMI zero, as SBC-3 requires.</summary>
    public static int ReadCapacity10(Span<byte> cdb)
    {
        Begin(cdb, 10, CdbOperationCode.ReadCapacity10);
        return 10;
    }

    /// <summary>READ CAPACITY(16) (SBC-3): SERVICE ACTION IN(16) with service action 0x10.</summary>
    public static int ReadCapacity16(Span<byte> cdb, uint allocationLength = ReadCapacityData.Length16)
    {
        var c = Begin(cdb, 16, CdbOperationCode.ServiceActionIn16);
        c[1] = 0x10;
        BinaryPrimitives.WriteUInt32BigEndian(c[10..], allocationLength);
        return 16;
    }

    /// <summary>REPORT LUNS (SPC-4). SPC-4 asks for an allocation length of at least 16.</summary>
    public static int ReportLuns(Span<byte> cdb, uint allocationLength, byte selectReport = 0)
    {
        var c = Begin(cdb, 12, CdbOperationCode.ReportLuns);
        c[2] = selectReport;
        BinaryPrimitives.WriteUInt32BigEndian(c[6..], allocationLength);
        return 12;
    }

    /// <summary>READ(10) (SBC-3).</summary>
    public static int Read10(Span<byte> cdb, uint lba, ushort blocks, bool fua = false, bool dpo = false) =>
        Rw10(cdb, CdbOperationCode.Read10, lba, blocks, fua, dpo);

    /// <summary>READ(16) (SBC-3).</summary>
    public static int Read16(Span<byte> cdb, ulong lba, uint blocks, bool fua = false, bool dpo = false) =>
        Rw16(cdb, CdbOperationCode.Read16, lba, blocks, fua, dpo);

    /// <summary>WRITE(10) (SBC-3); <paramref name="fua"/> forces the data to the medium before GOOD status.</summary>
    public static int Write10(Span<byte> cdb, uint lba, ushort blocks, bool fua = false, bool dpo = false) =>
        Rw10(cdb, CdbOperationCode.Write10, lba, blocks, fua, dpo);

    /// <summary>WRITE(16) (SBC-3).</summary>
    public static int Write16(Span<byte> cdb, ulong lba, uint blocks, bool fua = false, bool dpo = false) =>
        Rw16(cdb, CdbOperationCode.Write16, lba, blocks, fua, dpo);

    /// <summary>
    /// READ(10) when the range fits it (the whole range below 2^32 blocks and at most 65535 blocks), otherwise
    /// READ(16). The 10-byte form is what every target supports; the 16-byte one is needed past 2 TiB at 512 B.
    /// </summary>
    public static int Read(Span<byte> cdb, ulong lba, uint blocks, bool fua = false, bool dpo = false) =>
        FitsTenByteCdb(lba, blocks) ? Read10(cdb, (uint)lba, (ushort)blocks, fua, dpo) : Read16(cdb, lba, blocks, fua, dpo);

    /// <summary>WRITE(10) or WRITE(16), by the same rule as <see cref="Read"/>.</summary>
    public static int Write(Span<byte> cdb, ulong lba, uint blocks, bool fua = false, bool dpo = false) =>
        FitsTenByteCdb(lba, blocks) ? Write10(cdb, (uint)lba, (ushort)blocks, fua, dpo) : Write16(cdb, lba, blocks, fua, dpo);

    /// <summary>Whether READ(10)/WRITE(10) can address the range: LBA + blocks ≤ 2^32 and blocks ≤ 65535.</summary>
    public static bool FitsTenByteCdb(ulong lba, uint blocks) =>
        blocks <= ushort.MaxValue && lba + blocks <= (ulong)uint.MaxValue + 1;

    /// <summary>
    /// VERIFY(16) (SBC-3). With <paramref name="compareData"/> (BYTCHK 01b) the initiator sends the data and
    /// the device server compares it with the medium; without, it only checks the medium.
    /// </summary>
    public static int Verify16(Span<byte> cdb, ulong lba, uint blocks, bool compareData = false, bool dpo = false)
    {
        var c = Begin(cdb, 16, CdbOperationCode.Verify16);
        c[1] = (byte)((dpo ? DpoBit : 0) | (compareData ? 0x02 : 0));
        BinaryPrimitives.WriteUInt64BigEndian(c[2..], lba);
        BinaryPrimitives.WriteUInt32BigEndian(c[10..], blocks);
        return 16;
    }

    /// <summary>SYNCHRONIZE CACHE(10) (SBC-3); blocks 0 with LBA 0 means the whole medium.</summary>
    public static int SynchronizeCache10(Span<byte> cdb, uint lba = 0, ushort blocks = 0, bool immediate = false)
    {
        var c = Begin(cdb, 10, CdbOperationCode.SynchronizeCache10);
        if (immediate) c[1] = 0x02;
        BinaryPrimitives.WriteUInt32BigEndian(c[2..], lba);
        BinaryPrimitives.WriteUInt16BigEndian(c[7..], blocks);
        return 10;
    }

    /// <summary>SYNCHRONIZE CACHE(16) (SBC-3).</summary>
    public static int SynchronizeCache16(Span<byte> cdb, ulong lba = 0, uint blocks = 0, bool immediate = false)
    {
        var c = Begin(cdb, 16, CdbOperationCode.SynchronizeCache16);
        if (immediate) c[1] = 0x02;
        BinaryPrimitives.WriteUInt64BigEndian(c[2..], lba);
        BinaryPrimitives.WriteUInt32BigEndian(c[10..], blocks);
        return 16;
    }

    /// <summary>UNMAP (SBC-3); the parameter list is written with <see cref="UnmapParameterList"/>.</summary>
    public static int Unmap(Span<byte> cdb, ushort parameterListLength, bool anchor = false)
    {
        var c = Begin(cdb, 10, CdbOperationCode.Unmap);
        if (anchor) c[1] = 0x01;
        BinaryPrimitives.WriteUInt16BigEndian(c[7..], parameterListLength);
        return 10;
    }

    /// <summary>
    /// WRITE SAME(16) (SBC-3): one block of data written to every block of the range; with
    /// <paramref name="unmap"/> the device server may unmap the range instead. <paramref name="noDataOutBuffer"/> (NDOB)
    /// sends no data block and writes zeroes.
    /// </summary>
    public static int WriteSame16(Span<byte> cdb, ulong lba, uint blocks, bool unmap = false, bool anchor = false, bool noDataOutBuffer = false)
    {
        var c = Begin(cdb, 16, CdbOperationCode.WriteSame16);
        c[1] = (byte)((anchor ? 0x10 : 0) | (unmap ? 0x08 : 0) | (noDataOutBuffer ? 0x01 : 0));
        BinaryPrimitives.WriteUInt64BigEndian(c[2..], lba);
        BinaryPrimitives.WriteUInt32BigEndian(c[10..], blocks);
        return 16;
    }

    /// <summary>
    /// COMPARE AND WRITE (SBC-3): the data-out buffer holds <paramref name="blocks"/> blocks to compare, then
    /// as many to write; the write happens only if the compare matched (else MISCOMPARE).
    /// </summary>
    public static int CompareAndWrite(Span<byte> cdb, ulong lba, byte blocks, bool fua = false, bool dpo = false)
    {
        var c = Begin(cdb, 16, CdbOperationCode.CompareAndWrite);
        c[1] = (byte)((dpo ? DpoBit : 0) | (fua ? FuaBit : 0));
        BinaryPrimitives.WriteUInt64BigEndian(c[2..], lba);
        c[13] = blocks;
        return 16;
    }

    private static int Rw10(Span<byte> cdb, CdbOperationCode op, uint lba, ushort blocks, bool fua, bool dpo)
    {
        var c = Begin(cdb, 10, op);
        c[1] = (byte)((dpo ? DpoBit : 0) | (fua ? FuaBit : 0));
        BinaryPrimitives.WriteUInt32BigEndian(c[2..], lba);
        BinaryPrimitives.WriteUInt16BigEndian(c[7..], blocks);
        return 10;
    }

    private static int Rw16(Span<byte> cdb, CdbOperationCode op, ulong lba, uint blocks, bool fua, bool dpo)
    {
        var c = Begin(cdb, 16, op);
        c[1] = (byte)((dpo ? DpoBit : 0) | (fua ? FuaBit : 0));
        BinaryPrimitives.WriteUInt64BigEndian(c[2..], lba);
        BinaryPrimitives.WriteUInt32BigEndian(c[10..], blocks);
        return 16;
    }

    private static byte PageControlAndCode(ModePageControl pageControl, byte pageCode)
    {
        if (pageCode > 0x3f)
            throw new ArgumentOutOfRangeException(nameof(pageCode), pageCode, "A mode page code is a 6-bit field (0x00-0x3F).");
        return (byte)(((byte)pageControl << 6) | pageCode);
    }

    /// <summary>Checks room, zeroes the CDB bytes and sets the operation code.</summary>
    private static Span<byte> Begin(Span<byte> cdb, int length, CdbOperationCode op)
    {
        if (cdb.Length < length)
            throw new ArgumentException($"The CDB buffer holds {cdb.Length} bytes; {op} needs {length}.", nameof(cdb));
        var c = cdb[..length];
        c.Clear();
        c[0] = (byte)op;
        return c;
    }
}
