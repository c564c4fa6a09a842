using Iser.Core.Iscsi.Pdus;

namespace Iser.Tests.Pdus;

/// <summary>CRC32C against the iSCSI test vectors of RFC 3720 Appendix B.4 (carried into RFC 7143).</summary>
public class Crc32CTests
{
    [Fact]
    public void ThirtyTwoZeroBytes() => Assert.Equal(0x8a9136aau, Crc32C.Compute(new byte[32]));

    [Fact]
    public void ThirtyTwoOnesBytes() => Assert.Equal(0x62a8ab43u, Crc32C.Compute(Enumerable.Repeat((byte)0xff, 32).ToArray()));

    [Fact]
    public void ThirtyTwoIncrementingBytes() =>
        Assert.Equal(0x46dd794eu, Crc32C.Compute(Enumerable.Range(0, 32).Select(i => (byte)i).ToArray()));

    [Fact]
    public void ThirtyTwoDecrementingBytes() =>
        Assert.Equal(0x113fdb5cu, Crc32C.Compute(Enumerable.Range(0, 32).Select(i => (byte)(31 - i)).ToArray()));

    [Fact]
    public void ReadCommandPduVector()
    {
        // RFC 3720 B.4 "An iSCSI - SCSI Read (10) Command PDU".
        byte[] pdu =
        [
            0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18,
            0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        ];
        Assert.Equal(0xd9963a56u, Crc32C.Compute(pdu));
    }

    [Fact]
    public void DigestIsTransmittedLeastSignificantByteFirst()
    {
        var bytes = new byte[4];
        Crc32C.Write(bytes, 0x8a9136aa);
        Assert.Equal(new byte[] { 0xaa, 0x36, 0x91, 0x8a }, bytes);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(13)]
    public void DataDigestCoversPadding(int length)
    {
        var data = Enumerable.Range(1, length).Select(i => (byte)i).ToArray();
        var padded = new byte[PduWireFormat.Pad(length)];
        data.CopyTo(padded, 0);
        Assert.Equal(Crc32C.Compute(padded), PduWireFormat.DataDigest(data));
    }
}
