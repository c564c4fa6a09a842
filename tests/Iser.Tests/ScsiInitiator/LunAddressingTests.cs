using Iser.Core.Scsi;
using Iser.Core.Scsi.Initiator;

namespace Iser.Tests.ScsiInitiator;

public class LunAddressingTests
{
    [Theory]
    [InlineData(0, 0x0000_0000_0000_0000UL)]
    [InlineData(1, 0x0001_0000_0000_0000UL)]       // peripheral: byte0 00h, byte1 LUN
    [InlineData(255, 0x00FF_0000_0000_0000UL)]
    [InlineData(256, 0x4100_0000_0000_0000UL)]     // flat: byte0 01b<<6 | LUN[13:8], byte1 LUN[7:0]
    [InlineData(16383, 0x7FFF_0000_0000_0000UL)]
    public void Encode_And_Decode_FollowSam5(int lun, ulong wire)
    {
        Assert.Equal(wire, LunAddressing.Encode(lun));
        Assert.Equal(lun, LunAddressing.Decode(wire));
    }

    [Fact]
    public void Decode_FlatLunBelow256_IsAccepted()
    {
        Assert.Equal(7, LunAddressing.Decode(0x4007_0000_0000_0000UL));
    }

    [Theory]
    [InlineData(0xC101_0000_0000_0000UL, "well-known LUN")]                 // REPORT LUNS well-known LU
    [InlineData(0x8123_0000_0000_0000UL, "logical unit addressing")]
    [InlineData(0x0001_0002_0000_0000UL, "multi-level LUN")]
    [InlineData(0x0301_0000_0000_0000UL, "bus 3")]
    public void Decode_OtherAddressing_FailsWithTheMethodNamed(ulong wire, string expectedWords)
    {
        Assert.False(LunAddressing.TryDecode(wire, out _));
        var ex = Assert.Throws<ScsiDataFormatException>(() => LunAddressing.Decode(wire));
        Assert.Contains(expectedWords, ex.Message);
    }

    [Fact]
    public void Encode_OutOfRange_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => LunAddressing.Encode(16384));
        Assert.Throws<ArgumentOutOfRangeException>(() => LunAddressing.Encode(-1));
    }
}
