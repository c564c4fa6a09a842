using Iser.Core.Scsi;
using Iser.Core.Scsi.Initiator;

namespace Iser.Tests.ScsiInitiator;

public class ReportLunsDataTests
{
    [Fact]
    public void Parse_ThreeLuns_PeripheralAndFlat()
    {
        // SPC-4: bytes 0-3 LUN LIST LENGTH (n-7), 4-7 reserved, then 8-byte LUNs.
        byte[] d =
        [
            0, 0, 0, 24, 0, 0, 0, 0,
            0x00, 0x00, 0, 0, 0, 0, 0, 0,  // LUN 0 (peripheral)
            0x00, 0x05, 0, 0, 0, 0, 0, 0,  // LUN 5 (peripheral)
            0x41, 0x2C, 0, 0, 0, 0, 0, 0,  // LUN 0x12C = 300 (flat space)
        ];
        var r = ReportLunsData.Parse(d);
        Assert.Equal(24u, r.LunListLength);
        Assert.True(r.IsComplete);
        Assert.Equal(32, r.RequiredAllocationLength);
        Assert.Equal([0UL, 0x0005_0000_0000_0000UL, 0x412C_0000_0000_0000UL], r.Luns);
        Assert.Equal([0, 5, 300], r.LunNumbers());
    }

    [Fact]
    public void Parse_ListCutByAllocationLength_ReportsRequiredLength()
    {
        byte[] d = [0, 0, 0x01, 0x00, 0, 0, 0, 0, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0x00, 0x02, 0, 0]; // 256 bytes of LUNs claimed
        var r = ReportLunsData.Parse(d);
        Assert.False(r.IsComplete);
        Assert.Equal(8 + 256, r.RequiredAllocationLength);
        Assert.Single(r.Luns); // the partial second entry is not a LUN
        Assert.Equal([1], r.LunNumbers());
    }

    [Fact]
    public void Parse_EmptyList()
    {
        var r = ReportLunsData.Parse(new byte[8]);
        Assert.Empty(r.Luns);
        Assert.True(r.IsComplete);
    }

    [Fact]
    public void Parse_BadHeader_IsAnErrorInWords()
    {
        var shortEx = Assert.Throws<ScsiDataFormatException>(() => ReportLunsData.Parse(new byte[5]));
        Assert.Contains("REPORT LUNS", shortEx.Message);
        Assert.Contains("5 bytes", shortEx.Message);
        var oddEx = Assert.Throws<ScsiDataFormatException>(() => ReportLunsData.Parse([0, 0, 0, 12, 0, 0, 0, 0]));
        Assert.Contains("multiple", oddEx.Message);
    }
}
