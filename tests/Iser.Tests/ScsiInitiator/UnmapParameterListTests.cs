using Iser.Core.Scsi.Initiator;

namespace Iser.Tests.ScsiInitiator;

public class UnmapParameterListTests
{
    [Fact]
    public void TwoDescriptors_MatchSbc3Table139And140()
    {
        // Header: bytes 0-1 UNMAP DATA LENGTH (n-1 = 38), bytes 2-3 BLOCK DESCRIPTOR DATA LENGTH (n-7 = 32), 4-7 reserved.
        // Descriptor: bytes 0-7 LBA, 8-11 NUMBER OF LOGICAL BLOCKS, 12-15 reserved.
        var expected = new byte[]
        {
            0x00, 0x26, 0x00, 0x20, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 0x10, 0x00,  0x00, 0x00, 0x00, 0x08,  0, 0, 0, 0,
            0, 0, 0, 0x01, 0, 0, 0, 0,     0x00, 0x01, 0x00, 0x00,  0, 0, 0, 0,
        };
        var buffer = new byte[64];
        buffer.AsSpan().Fill(0xEE);
        int length = UnmapParameterList.Write(buffer, [new(0x1000, 8), new(0x1_0000_0000, 0x10000)]);
        Assert.Equal(40, length);
        Assert.Equal(expected, buffer[..length]);
        Assert.Equal(0xEE, buffer[length]);
        Assert.Equal(40, UnmapParameterList.GetLength(2));
    }

    [Fact]
    public void ZeroDescriptors_IsAnEightByteHeader()
    {
        var buffer = new byte[8];
        Assert.Equal(8, UnmapParameterList.Write(buffer, []));
        Assert.Equal(new byte[] { 0x00, 0x06, 0x00, 0x00, 0, 0, 0, 0 }, buffer);
    }

    [Fact]
    public void LimitsAndShortBuffers_AreReportedInWords()
    {
        Assert.Equal(8 + 4095 * 16, UnmapParameterList.GetLength(4095));
        var tooMany = Assert.Throws<ArgumentOutOfRangeException>(() => UnmapParameterList.GetLength(4096));
        Assert.Contains("4095", tooMany.Message);
        var shortBuffer = Assert.Throws<ArgumentException>(() => UnmapParameterList.Write(new byte[20], [new(0, 1)]));
        Assert.Contains("needs 24", shortBuffer.Message);
    }
}
