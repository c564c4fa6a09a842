using Iser.Core.Scsi;
using Iser.Core.Scsi.Initiator;

namespace Iser.Tests.ScsiInitiator;

public class ReadCapacityDataTests
{
    [Fact]
    public void ReadCapacity10_LastLbaAndBlockLength()
    {
        // SBC-3: bytes 0-3 RETURNED LOGICAL BLOCK ADDRESS, bytes 4-7 LOGICAL BLOCK LENGTH IN BYTES.
        var rc = ReadCapacityData.ParseReadCapacity10([0x00, 0x1F, 0xFF, 0xFF, 0x00, 0x00, 0x02, 0x00]);
        Assert.Equal(0x1FFFFFUL, rc.LastLba);
        Assert.Equal(0x200000UL, rc.BlockCount);
        Assert.Equal(512u, rc.BlockSize);
        Assert.Equal(1UL << 30, rc.CapacityBytes);
        Assert.False(rc.NeedsReadCapacity16);
        Assert.False(rc.ProvisioningEnabled);
    }

    [Fact]
    public void ReadCapacity10_AllOnes_MeansUseReadCapacity16()
    {
        var rc = ReadCapacityData.ParseReadCapacity10([0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x10, 0x00]);
        Assert.True(rc.NeedsReadCapacity16);
        Assert.Equal(4096u, rc.BlockSize);
    }

    [Fact]
    public void ReadCapacity16_DecodesProvisioningProtectionAndAlignment()
    {
        // SBC-3: 0-7 LBA, 8-11 block length, 12 P_TYPE(3-1) PROT_EN(0),
        // 13 P_I_EXPONENT(7-4) LB PER PB EXPONENT(3-0), 14 LBPME(7) LBPRZ(6) LOWEST ALIGNED LBA(5-0), 15 LOWEST ALIGNED LBA.
        var d = new byte[32];
        byte[] head = [0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x03, 0x03, 0xC0, 0x07];
        head.CopyTo(d, 0);
        var rc = ReadCapacityData.ParseReadCapacity16(d);
        Assert.Equal(0x2_0000_0000UL, rc.LastLba);
        Assert.Equal(512u, rc.BlockSize);
        Assert.True(rc.ProtectionEnabled);
        Assert.Equal(2, rc.ProtectionType); // P_TYPE 001b = type 2
        Assert.Equal(3, rc.LogicalBlocksPerPhysicalBlockExponent);
        Assert.True(rc.ProvisioningEnabled);
        Assert.True(rc.UnmappedReadsZero);
        Assert.Equal(7, rc.LowestAlignedLba);

        d[14] = 0x80; d[12] = 0;
        var lbpmeOnly = ReadCapacityData.ParseReadCapacity16(d);
        Assert.True(lbpmeOnly.ProvisioningEnabled);
        Assert.False(lbpmeOnly.UnmappedReadsZero);
        Assert.False(lbpmeOnly.ProtectionEnabled);
        Assert.Equal(0, lbpmeOnly.ProtectionType);
    }

    [Fact]
    public void ReadCapacity16_TwelveBytes_HasNoFlags()
    {
        byte[] d = [0, 0, 0, 0, 0, 0, 0x0F, 0xFF, 0x00, 0x00, 0x10, 0x00];
        var rc = ReadCapacityData.ParseReadCapacity16(d);
        Assert.Equal(0xFFFUL, rc.LastLba);
        Assert.Equal(4096u, rc.BlockSize);
        Assert.False(rc.ProvisioningEnabled);
    }

    [Fact]
    public void Truncated_IsAnErrorInWords()
    {
        var ex10 = Assert.Throws<ScsiDataFormatException>(() => ReadCapacityData.ParseReadCapacity10(new byte[7]));
        Assert.Contains("READ CAPACITY(10)", ex10.Message);
        Assert.Contains("7 bytes", ex10.Message);
        var ex16 = Assert.Throws<ScsiDataFormatException>(() => ReadCapacityData.ParseReadCapacity16(new byte[11]));
        Assert.Contains("READ CAPACITY(16)", ex16.Message);
        Assert.Contains("12", ex16.Message);
    }
}
