using System.Text;
using Iser.Core.Scsi;
using Iser.Core.Scsi.Initiator;

namespace Iser.Tests.ScsiInitiator;

public class InquiryDataTests
{
    /// <summary>A 36-byte standard INQUIRY image laid out per SPC-4.</summary>
    private static byte[] Image()
    {
        var d = new byte[36];
        d[0] = 0x00;        // qualifier 0, type 0 (direct access block)
        d[1] = 0x00;        // RMB 0
        d[2] = 0x06;        // VERSION: SPC-4
        d[3] = 0x12;        // HISUP 1, RESPONSE DATA FORMAT 2
        d[4] = 0x3B;        // ADDITIONAL LENGTH (n-4): 59 more bytes exist, 63 in all
        d[5] = 0x18;        // TPGS 01b (bits 5-4), 3PC bit 3
        d[6] = 0x00;
        d[7] = 0x02;        // CMDQUE
        Encoding.ASCII.GetBytes("LIO-ORG ").CopyTo(d, 8);
        Encoding.ASCII.GetBytes("ramdisk         ").CopyTo(d, 16);
        Encoding.ASCII.GetBytes("4.0 ").CopyTo(d, 32);
        return d;
    }

    [Fact]
    public void Parse_ReadsEveryField()
    {
        var inq = InquiryData.Parse(Image());
        Assert.Equal(0, inq.PeripheralQualifier);
        Assert.True(inq.IsConnected);
        Assert.Equal(PeripheralDeviceType.DirectAccessBlock, inq.DeviceType);
        Assert.False(inq.Removable);
        Assert.Equal(6, inq.Version);
        Assert.Equal("SPC-4", inq.VersionName);
        Assert.True(inq.HierarchicalSupport);
        Assert.Equal(2, inq.ResponseDataFormat);
        Assert.Equal(59 + 4, inq.AvailableLength);
        Assert.Equal(1, inq.TargetPortGroupSupport);
        Assert.True(inq.ThirdPartyCopy);
        Assert.False(inq.Protect);
        Assert.True(inq.CommandQueueing);
        Assert.Equal("LIO-ORG", inq.Vendor);
        Assert.Equal("ramdisk", inq.Product);
        Assert.Equal("4.0", inq.Revision);
    }

    [Fact]
    public void Parse_QualifierThreeTypeUnknown_MeansNoUnitAtThisLun()
    {
        var d = Image();
        d[0] = 0x7F; // qualifier 011b, type 1Fh
        d[1] = 0x80; // RMB
        d[5] = 0x01; // PROTECT
        var inq = InquiryData.Parse(d);
        Assert.Equal(3, inq.PeripheralQualifier);
        Assert.False(inq.IsConnected);
        Assert.Equal(PeripheralDeviceType.UnknownOrNoDevice, inq.DeviceType);
        Assert.True(inq.Removable);
        Assert.True(inq.Protect);
        Assert.Equal(0, inq.TargetPortGroupSupport);
    }

    [Fact]
    public void Parse_NulPaddedStrings_AreTrimmed()
    {
        var d = Image();
        Array.Clear(d, 16, 16);
        Encoding.ASCII.GetBytes("disk").CopyTo(d, 16);
        Assert.Equal("disk", InquiryData.Parse(d).Product);
    }

    [Fact]
    public void Parse_TruncatedData_SaysHowManyBytesWereNeeded()
    {
        var ex = Assert.Throws<ScsiDataFormatException>(() => InquiryData.Parse(Image().AsSpan(0, 20)));
        Assert.Contains("20 bytes", ex.Message);
        Assert.Contains("36", ex.Message);
        Assert.IsAssignableFrom<FormatException>(ex);
    }
}
