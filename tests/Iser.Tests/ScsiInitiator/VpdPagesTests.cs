using System.Text;
using Iser.Core.Scsi;
using Iser.Core.Scsi.Initiator;

namespace Iser.Tests.ScsiInitiator;

public class VpdPagesTests
{
    [Fact]
    public void SupportedPages_ListsPageCodes()
    {
        // SPC-4: byte1 PAGE CODE 00h, bytes 2-3 PAGE LENGTH, then one byte per supported page.
        byte[] page = [0x00, 0x00, 0x00, 0x05, 0x00, 0x80, 0x83, 0xB0, 0xB2];
        Assert.Equal([0x00, 0x80, 0x83, 0xB0, 0xB2], VpdPages.ParseSupportedPages(page));
        Assert.Equal(9, VpdPages.RequiredLength(page));
    }

    [Fact]
    public void UnitSerialNumber_IsTrimmedAscii()
    {
        var page = new byte[4 + 12];
        page[1] = 0x80; page[3] = 12;
        Encoding.ASCII.GetBytes("  SN-0042   ").CopyTo(page, 4);
        Assert.Equal("SN-0042", VpdPages.ParseUnitSerialNumber(page));
    }

    [Fact]
    public void DeviceIdentification_DecodesEachDesignator()
    {
        // SPC-4: descriptor byte0 PROTOCOL IDENTIFIER(7-4) CODE SET(3-0), byte1 PIV(7) ASSOCIATION(5-4)
        // DESIGNATOR TYPE(3-0), byte3 DESIGNATOR LENGTH, then the designator.
        var body = new List<byte>();
        // NAA IEEE Registered Extended (6h), binary, LU association.
        body.AddRange([0x01, 0x03, 0x00, 0x10]);
        body.AddRange([0x60, 0x01, 0x40, 0x50, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x11, 0x22, 0x33, 0x44]);
        // T10 vendor ID, ASCII, LU association.
        body.AddRange([0x02, 0x01, 0x00, 0x0C]);
        body.AddRange(Encoding.ASCII.GetBytes("LIO-ORG abcd"));
        // Relative target port, iSCSI protocol (5) with PIV, target port association.
        body.AddRange([0x51, 0x94, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01]);
        // SCSI name string, UTF-8, target device association, NUL padded to a multiple of 4.
        var name = Encoding.UTF8.GetBytes("iqn.2026-11.iser:t1\0");
        body.AddRange([0x53, 0xA8, 0x00, (byte)name.Length]);
        body.AddRange(name);
        var page = new byte[] { 0x00, 0x83, 0x00, (byte)body.Count }.Concat(body).ToArray();

        var ids = VpdPages.ParseDeviceIdentification(page);
        Assert.Equal(4, ids.Count);

        Assert.Equal(DesignatorType.Naa, ids[0].Type);
        Assert.Equal(DesignatorCodeSet.Binary, ids[0].CodeSet);
        Assert.Equal(DesignatorAssociation.LogicalUnit, ids[0].Association);
        Assert.Equal("naa.6001405012345678" + "9abcdef011223344", ids[0].Text);

        Assert.Equal(DesignatorType.T10VendorId, ids[1].Type);
        Assert.Equal("LIO-ORG abcd", ids[1].Text);

        Assert.Equal(DesignatorType.RelativeTargetPort, ids[2].Type);
        Assert.Equal(DesignatorAssociation.TargetPort, ids[2].Association);
        Assert.True(ids[2].ProtocolIdentifierValid);
        Assert.Equal(5, ids[2].ProtocolIdentifier);
        Assert.Equal("1", ids[2].Text);

        Assert.Equal(DesignatorType.ScsiNameString, ids[3].Type);
        Assert.Equal(DesignatorAssociation.TargetDevice, ids[3].Association);
        Assert.Equal(DesignatorCodeSet.Utf8, ids[3].CodeSet);
        Assert.Equal("iqn.2026-11.iser:t1", ids[3].Text);
    }

    [Fact]
    public void DeviceIdentification_DescriptorRunningOffTheEnd_IsAnError()
    {
        byte[] page = [0x00, 0x83, 0x00, 0x08, 0x01, 0x03, 0x00, 0x10, 0x60, 0x01, 0x40, 0x50];
        var ex = Assert.Throws<ScsiDataFormatException>(() => VpdPages.ParseDeviceIdentification(page));
        Assert.Contains("16 designator bytes", ex.Message);
    }

    [Fact]
    public void BlockLimits_FullSbc3Page()
    {
        // SBC-3, page length 3Ch.
        var p = new byte[64];
        p[1] = 0xB0; p[3] = 0x3C;
        p[4] = 0x01;                                   // WSNZ
        p[5] = 0x01;                                   // MAXIMUM COMPARE AND WRITE LENGTH
        p[6] = 0x00; p[7] = 0x08;                      // OPTIMAL TRANSFER LENGTH GRANULARITY
        p[8] = 0x00; p[9] = 0x00; p[10] = 0x20; p[11] = 0x00;  // MAXIMUM TRANSFER LENGTH 8192
        p[12] = 0x00; p[13] = 0x00; p[14] = 0x04; p[15] = 0x00; // OPTIMAL TRANSFER LENGTH 1024
        p[16] = 0x00; p[17] = 0x00; p[18] = 0x00; p[19] = 0x10; // MAXIMUM PREFETCH LENGTH 16
        p[20] = 0xFF; p[21] = 0xFF; p[22] = 0xFF; p[23] = 0xFF; // MAXIMUM UNMAP LBA COUNT
        p[24] = 0x00; p[25] = 0x00; p[26] = 0x00; p[27] = 0x40; // MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT 64
        p[28] = 0x00; p[29] = 0x00; p[30] = 0x00; p[31] = 0x08; // OPTIMAL UNMAP GRANULARITY 8
        p[32] = 0x80; p[33] = 0x00; p[34] = 0x00; p[35] = 0x02; // UGAVALID + alignment 2
        p[36] = 0; p[37] = 0; p[38] = 0; p[39] = 0; p[40] = 0; p[41] = 0x01; p[42] = 0x00; p[43] = 0x00; // MAX WRITE SAME 65536

        var bl = VpdPages.ParseBlockLimits(p);
        Assert.True(bl.WriteSameNonZero);
        Assert.Equal(1, bl.MaximumCompareAndWriteLength);
        Assert.Equal(8, bl.OptimalTransferLengthGranularity);
        Assert.Equal(8192u, bl.MaximumTransferLength);
        Assert.Equal(1024u, bl.OptimalTransferLength);
        Assert.Equal(16u, bl.MaximumPrefetchLength);
        Assert.Equal(uint.MaxValue, bl.MaximumUnmapLbaCount);
        Assert.Equal(64u, bl.MaximumUnmapBlockDescriptorCount);
        Assert.Equal(8u, bl.OptimalUnmapGranularity);
        Assert.True(bl.UnmapGranularityAlignmentValid);
        Assert.Equal(2u, bl.UnmapGranularityAlignment);
        Assert.Equal(65536UL, bl.MaximumWriteSameLength);
    }

    [Fact]
    public void BlockLimits_OldShortPage_LeavesLaterFieldsZero()
    {
        var p = new byte[16];
        p[1] = 0xB0; p[3] = 0x0C;
        p[11] = 0x80; // MAXIMUM TRANSFER LENGTH 128
        var bl = VpdPages.ParseBlockLimits(p);
        Assert.Equal(128u, bl.MaximumTransferLength);
        Assert.Equal(0u, bl.MaximumUnmapLbaCount);
        Assert.Equal(0UL, bl.MaximumWriteSameLength);
    }

    [Fact]
    public void PageShorterThanItsPageLength_TellsTheAllocationLengthToUse()
    {
        var p = new byte[20];
        p[1] = 0xB0; p[3] = 0x3C;
        var ex = Assert.Throws<ScsiDataFormatException>(() => VpdPages.ParseBlockLimits(p));
        Assert.Contains("60 bytes follow", ex.Message);
        Assert.Contains("at least 64", ex.Message);
        Assert.Equal(64, VpdPages.RequiredLength(p));
    }

    [Fact]
    public void WrongPageCode_IsAnError()
    {
        byte[] p = [0x00, 0x80, 0x00, 0x00];
        var ex = Assert.Throws<ScsiDataFormatException>(() => VpdPages.ParseDeviceIdentification(p));
        Assert.Contains("0x80", ex.Message);
        Assert.Throws<ScsiDataFormatException>(() => VpdPages.ParseSupportedPages([0x00, 0x00]));
    }
}
