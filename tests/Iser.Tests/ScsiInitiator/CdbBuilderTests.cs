using Iser.Core.Scsi.Initiator;

namespace Iser.Tests.ScsiInitiator;

/// <summary>
/// Every expected CDB below is written byte by byte from the SPC-4 / SBC-3 CDB tables (field positions noted),
/// not from the builder. The buffer is pre-filled with 0xEE so any byte the builder forgets to write shows up.
/// </summary>
public class CdbBuilderTests
{
    private delegate int Build(Span<byte> cdb);

    private static byte[] Run(Build build, int expectedLength)
    {
        var buffer = new byte[CdbBuilder.MaxCdbLength + 4];
        buffer.AsSpan().Fill(0xEE);
        int length = build(buffer);
        Assert.Equal(expectedLength, length);
        Assert.All(buffer[length..], b => Assert.Equal(0xEE, b)); // nothing written past the CDB
        return buffer[..length];
    }

    [Fact]
    public void TestUnitReady_IsSixZeroBytes()
    {
        // SPC-4: OPERATION CODE 00h, bytes 1-4 reserved, CONTROL.
        Assert.Equal(new byte[] { 0x00, 0, 0, 0, 0, 0 }, Run(c => CdbBuilder.TestUnitReady(c), 6));
    }

    [Fact]
    public void Inquiry_Standard_PutsAllocationLengthInBytes3And4()
    {
        // SPC-4: 12h, byte1 bit0 EVPD, byte2 PAGE CODE, bytes 3-4 ALLOCATION LENGTH, CONTROL.
        Assert.Equal(new byte[] { 0x12, 0x00, 0x00, 0x01, 0x04, 0x00 }, Run(c => CdbBuilder.Inquiry(c, 0x0104), 6));
    }

    [Fact]
    public void Inquiry_Vpd_SetsEvpdAndPageCode()
    {
        Assert.Equal(new byte[] { 0x12, 0x01, 0x83, 0x10, 0x00, 0x00 }, Run(c => CdbBuilder.InquiryVpd(c, 0x83, 0x1000), 6));
        Assert.Equal(new byte[] { 0x12, 0x01, 0xB0, 0x00, 0x40, 0x00 }, Run(c => CdbBuilder.InquiryVpd(c, 0xB0, 64), 6));
    }

    [Fact]
    public void ReadCapacity10_IsOpcode25hWithZeroFields()
    {
        // SBC-3: 25h, byte1 reserved/obsolete, bytes 2-5 LBA (obsolete, 0), byte 8 PMI (obsolete, 0), CONTROL.
        Assert.Equal(new byte[] { 0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, Run(c => CdbBuilder.ReadCapacity10(c), 10));
    }

    [Fact]
    public void ReadCapacity16_IsServiceActionIn16WithServiceAction10h()
    {
        // SBC-3: 9Eh, byte1 SERVICE ACTION 10h, bytes 2-9 LBA, bytes 10-13 ALLOCATION LENGTH, byte14 PMI, CONTROL.
        Assert.Equal(
            new byte[] { 0x9E, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00 },
            Run(c => CdbBuilder.ReadCapacity16(c), 16));
        Assert.Equal(
            new byte[] { 0x9E, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x02, 0x03, 0x04, 0x00, 0x00 },
            Run(c => CdbBuilder.ReadCapacity16(c, 0x01020304), 16));
    }

    [Fact]
    public void ReportLuns_PutsSelectReportInByte2AndAllocationLengthInBytes6To9()
    {
        // SPC-4: A0h, byte2 SELECT REPORT, bytes 6-9 ALLOCATION LENGTH, byte 11 CONTROL.
        Assert.Equal(
            new byte[] { 0xA0, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x08, 0x00, 0x00 },
            Run(c => CdbBuilder.ReportLuns(c, 0x1008, selectReport: 2), 12));
    }

    [Fact]
    public void Read10_LbaBytes2To5_LengthBytes7To8_FuaAndDpoInByte1()
    {
        // SBC-3: 28h, byte1 RDPROTECT(7-5) DPO(4) FUA(3) RARC(2), bytes 2-5 LBA, byte 6 GROUP, bytes 7-8 TRANSFER LENGTH.
        Assert.Equal(
            new byte[] { 0x28, 0x00, 0x12, 0x34, 0x56, 0x78, 0x00, 0x01, 0x00, 0x00 },
            Run(c => CdbBuilder.Read10(c, 0x12345678, 256), 10));
        Assert.Equal(
            new byte[] { 0x28, 0x18, 0x00, 0x00, 0x00, 0x01, 0x00, 0xFF, 0xFF, 0x00 },
            Run(c => CdbBuilder.Read10(c, 1, 0xFFFF, fua: true, dpo: true), 10));
    }

    [Fact]
    public void Read16_LbaBytes2To9_LengthBytes10To13()
    {
        // SBC-3: 88h, byte1 flags, bytes 2-9 LBA, bytes 10-13 TRANSFER LENGTH, byte 14 GROUP, CONTROL.
        Assert.Equal(
            new byte[] { 0x88, 0x08, 0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00 },
            Run(c => CdbBuilder.Read16(c, 0x0123456789ABCDEF, 0x10000, fua: true), 16));
    }

    [Fact]
    public void Write10_AndWrite16_UseOpcodes2AhAnd8Ah_WithFuaBit3()
    {
        // SBC-3 WRITE(10) and WRITE(16) CDBs.
        Assert.Equal(
            new byte[] { 0x2A, 0x08, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x08, 0x00 },
            Run(c => CdbBuilder.Write10(c, 0x1000, 8, fua: true), 10));
        Assert.Equal(
            new byte[] { 0x2A, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x08, 0x00 },
            Run(c => CdbBuilder.Write10(c, 0x1000, 8), 10));
        Assert.Equal(
            new byte[] { 0x8A, 0x08, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00 },
            Run(c => CdbBuilder.Write16(c, 0x1_0000_0000, 128, fua: true), 16));
        Assert.Equal(
            new byte[] { 0x8A, 0x10, 0, 0, 0, 0, 0, 0, 0, 0x05, 0, 0, 0, 0x01, 0, 0 },
            Run(c => CdbBuilder.Write16(c, 5, 1, dpo: true), 16));
    }

    [Theory]
    [InlineData(0UL, 1U, 0x28)]                    // small: READ(10)
    [InlineData(0xFFFF_FFFFUL, 1U, 0x28)]          // last block addressable by 32 bits
    [InlineData(0xFFFF_FFFFUL, 2U, 0x88)]          // range crosses 2^32
    [InlineData(0x1_0000_0000UL, 1U, 0x88)]        // LBA above 32 bits
    [InlineData(0UL, 0xFFFFU, 0x28)]               // longest READ(10) transfer
    [InlineData(0UL, 0x10000U, 0x88)]              // too long for a 16-bit TRANSFER LENGTH
    public void Read_ChoosesTenOrSixteenByteCdb(ulong lba, uint blocks, byte expectedOpcode)
    {
        var cdb = new byte[16];
        int length = CdbBuilder.Read(cdb, lba, blocks);
        Assert.Equal(expectedOpcode, cdb[0]);
        Assert.Equal(expectedOpcode == 0x28 ? 10 : 16, length);
        // And the fields decode back to the request, read at the standard's positions.
        if (length == 10)
        {
            Assert.Equal(lba, (ulong)((cdb[2] << 24) | (cdb[3] << 16) | (cdb[4] << 8) | cdb[5]) & 0xFFFF_FFFF);
            Assert.Equal(blocks, (uint)((cdb[7] << 8) | cdb[8]));
        }
        else
        {
            Assert.Equal(lba, System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(cdb.AsSpan(2)));
            Assert.Equal(blocks, System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(cdb.AsSpan(10)));
        }
    }

    [Fact]
    public void Write_ChoosesWrite16PastTwoToThe32_AndKeepsFua()
    {
        var cdb = new byte[16];
        Assert.Equal(10, CdbBuilder.Write(cdb, 100, 8, fua: true));
        Assert.Equal(new byte[] { 0x2A, 0x08, 0, 0, 0, 100, 0, 0, 8, 0 }, cdb[..10]);
        Assert.Equal(16, CdbBuilder.Write(cdb, 0x2_0000_0000, 8, fua: true));
        Assert.Equal(new byte[] { 0x8A, 0x08, 0, 0, 0, 0x02, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0 }, cdb);
    }

    [Fact]
    public void Verify16_PutsBytchkInBits2To1()
    {
        // SBC-3: 8Fh, byte1 VRPROTECT(7-5) DPO(4) BYTCHK(2-1), bytes 2-9 LBA, 10-13 VERIFICATION LENGTH.
        Assert.Equal(
            new byte[] { 0x8F, 0x02, 0, 0, 0, 0, 0, 0, 0x04, 0x00, 0, 0, 0x02, 0x00, 0, 0 },
            Run(c => CdbBuilder.Verify16(c, 0x400, 0x200, compareData: true), 16));
        Assert.Equal(
            new byte[] { 0x8F, 0x10, 0, 0, 0, 0, 0, 0, 0, 0x07, 0, 0, 0, 0x01, 0, 0 },
            Run(c => CdbBuilder.Verify16(c, 7, 1, dpo: true), 16));
    }

    [Fact]
    public void SynchronizeCache10_And16_ImmedIsByte1Bit1()
    {
        // SBC-3: 35h, byte1 IMMED bit1, bytes 2-5 LBA, byte 6 GROUP, bytes 7-8 NUMBER OF LOGICAL BLOCKS.
        Assert.Equal(new byte[] { 0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, Run(c => CdbBuilder.SynchronizeCache10(c), 10));
        Assert.Equal(
            new byte[] { 0x35, 0x02, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x20, 0x00 },
            Run(c => CdbBuilder.SynchronizeCache10(c, 0x100, 0x20, immediate: true), 10));
        // SBC-3: 91h, byte1 IMMED bit1, bytes 2-9 LBA, bytes 10-13 NUMBER OF LOGICAL BLOCKS.
        Assert.Equal(
            new byte[] { 0x91, 0x02, 0, 0, 0, 0x01, 0, 0, 0, 0, 0x00, 0x00, 0x10, 0x00, 0, 0 },
            Run(c => CdbBuilder.SynchronizeCache16(c, 0x1_0000_0000, 0x1000, immediate: true), 16));
    }

    [Fact]
    public void Unmap_AnchorIsByte1Bit0_ParameterListLengthBytes7To8()
    {
        // SBC-3: 42h, byte1 ANCHOR bit0, byte 6 GROUP, bytes 7-8 PARAMETER LIST LENGTH, CONTROL.
        Assert.Equal(new byte[] { 0x42, 0x00, 0, 0, 0, 0, 0, 0x00, 0x18, 0x00 }, Run(c => CdbBuilder.Unmap(c, 24), 10));
        Assert.Equal(new byte[] { 0x42, 0x01, 0, 0, 0, 0, 0, 0x01, 0x08, 0x00 }, Run(c => CdbBuilder.Unmap(c, 0x108, anchor: true), 10));
    }

    [Fact]
    public void WriteSame16_UnmapIsByte1Bit3_AnchorBit4_NdobBit0()
    {
        // SBC-3: 93h, byte1 WRPROTECT(7-5) ANCHOR(4) UNMAP(3) NDOB(0), bytes 2-9 LBA, 10-13 NUMBER OF LOGICAL BLOCKS.
        Assert.Equal(
            new byte[] { 0x93, 0x08, 0, 0, 0, 0, 0, 0, 0x80, 0x00, 0x00, 0x01, 0x00, 0x00, 0, 0 },
            Run(c => CdbBuilder.WriteSame16(c, 0x8000, 0x10000, unmap: true), 16));
        Assert.Equal(
            new byte[] { 0x93, 0x19, 0, 0, 0, 0, 0, 0, 0, 0x01, 0, 0, 0, 0x02, 0, 0 },
            Run(c => CdbBuilder.WriteSame16(c, 1, 2, unmap: true, anchor: true, noDataOutBuffer: true), 16));
        Assert.Equal(
            new byte[] { 0x93, 0x00, 0, 0, 0, 0, 0, 0, 0, 0x01, 0, 0, 0, 0x02, 0, 0 },
            Run(c => CdbBuilder.WriteSame16(c, 1, 2), 16));
    }

    [Fact]
    public void ModeSense6_PcInByte2Bits7To6_DbdInByte1Bit3()
    {
        // SPC-4: 1Ah, byte1 DBD bit3, byte2 PC(7-6) PAGE CODE(5-0), byte3 SUBPAGE CODE, byte4 ALLOCATION LENGTH.
        Assert.Equal(new byte[] { 0x1A, 0x08, 0x3F, 0xFF, 0xFC, 0x00 },
            Run(c => CdbBuilder.ModeSense6(c, 0x3F, 0xFF, 0xFC, ModePageControl.Current, disableBlockDescriptors: true), 6));
        Assert.Equal(new byte[] { 0x1A, 0x00, 0x48, 0x00, 0x14, 0x00 },
            Run(c => CdbBuilder.ModeSense6(c, 0x08, 0x00, 0x14, ModePageControl.Changeable), 6));
        Assert.Equal(new byte[] { 0x1A, 0x00, 0xCA, 0x00, 0x20, 0x00 },
            Run(c => CdbBuilder.ModeSense6(c, 0x0A, 0x00, 0x20, ModePageControl.Saved), 6));
    }

    [Fact]
    public void ModeSense10_LlbaaByte1Bit4_AllocationLengthBytes7To8()
    {
        // SPC-4: 5Ah, byte1 LLBAA bit4 DBD bit3, byte2 PC/PAGE CODE, byte3 SUBPAGE, bytes 7-8 ALLOCATION LENGTH.
        Assert.Equal(new byte[] { 0x5A, 0x18, 0x88, 0x01, 0, 0, 0, 0x10, 0x00, 0x00 },
            Run(c => CdbBuilder.ModeSense10(c, 0x08, 0x01, 0x1000, ModePageControl.Default, true, true), 10));
        Assert.Equal(new byte[] { 0x5A, 0x00, 0x1C, 0x00, 0, 0, 0, 0x00, 0xFF, 0x00 },
            Run(c => CdbBuilder.ModeSense10(c, 0x1C, 0x00, 0xFF), 10));
    }

    [Fact]
    public void ModeSense_RejectsPageCodeWiderThanSixBits()
    {
        var cdb = new byte[10];
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => CdbBuilder.ModeSense6(cdb, 0x40, 0, 4));
        Assert.Contains("6-bit", ex.Message);
    }

    [Fact]
    public void RequestSense_DescIsByte1Bit0_AllocationLengthByte4()
    {
        // SPC-4: 03h, byte1 DESC bit0, byte4 ALLOCATION LENGTH, CONTROL.
        Assert.Equal(new byte[] { 0x03, 0x00, 0, 0, 0xFC, 0x00 }, Run(c => CdbBuilder.RequestSense(c, 252), 6));
        Assert.Equal(new byte[] { 0x03, 0x01, 0, 0, 0x60, 0x00 }, Run(c => CdbBuilder.RequestSense(c, 96, descriptorFormat: true), 6));
    }

    [Fact]
    public void StartStopUnit_FieldsInBytes1And4()
    {
        // SBC-3: 1Bh, byte1 IMMED bit0, byte3 POWER CONDITION MODIFIER, byte4 POWER CONDITION(7-4) NO_FLUSH(2) LOEJ(1) START(0).
        Assert.Equal(new byte[] { 0x1B, 0x00, 0, 0, 0x01, 0x00 }, Run(c => CdbBuilder.StartStopUnit(c, start: true), 6));
        Assert.Equal(new byte[] { 0x1B, 0x01, 0, 0, 0x02, 0x00 },
            Run(c => CdbBuilder.StartStopUnit(c, start: false, loadEject: true, immediate: true), 6));
        Assert.Equal(new byte[] { 0x1B, 0x00, 0, 0, 0x34, 0x00 },
            Run(c => CdbBuilder.StartStopUnit(c, start: false, powerCondition: 3, noFlush: true), 6));
        Assert.Throws<ArgumentOutOfRangeException>(() => CdbBuilder.StartStopUnit(new byte[6], true, powerCondition: 16));
    }

    [Fact]
    public void CompareAndWrite_NumberOfBlocksIsByte13()
    {
        // SBC-3: 89h, byte1 WRPROTECT(7-5) DPO(4) FUA(3), bytes 2-9 LBA, 10-12 reserved, byte 13 NUMBER OF LOGICAL BLOCKS, byte 14 GROUP.
        Assert.Equal(
            new byte[] { 0x89, 0x08, 0, 0, 0, 0, 0, 0, 0x12, 0x34, 0, 0, 0, 0x01, 0, 0 },
            Run(c => CdbBuilder.CompareAndWrite(c, 0x1234, 1, fua: true), 16));
        Assert.Equal(
            new byte[] { 0x89, 0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE, 0, 0, 0, 0xFF, 0, 0 },
            Run(c => CdbBuilder.CompareAndWrite(c, 0xFFFF_FFFF_FFFF_FFFE, 255, dpo: true), 16));
    }

    [Fact]
    public void TooSmallBuffer_IsAnArgumentErrorNamingTheCommand()
    {
        var small = new byte[10];
        var ex = Assert.Throws<ArgumentException>(() => CdbBuilder.Read16(small, 0, 1));
        Assert.Contains("Read16", ex.Message);
        Assert.Contains("16", ex.Message);
    }
}
