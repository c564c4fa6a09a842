using Iser.Core.Datamover;
using Iser.Core.Iscsi.Pdus;

namespace Iser.Tests.Pdus;

public class PduWireFormatTests
{
    [Fact]
    public void HeaderCarriesLengthsAndPaddedAhs()
    {
        var pdu = new Pdu { Opcode = IscsiOpcode.ScsiCommand, Final = true };
        pdu.Ahs = new byte[] { 0x00, 0x05, 0x02, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00 }; // 9 bytes -> 12 on the wire
        pdu.SetData(new byte[] { 1, 2, 3, 4, 5 });
        var wire = new byte[PduWireFormat.HeaderLength(pdu, headerDigest: true)];
        int n = PduWireFormat.WriteHeader(pdu, wire, headerDigest: true);
        Assert.Equal(48 + 12 + 4, n);
        Assert.Equal(3, wire[4]); // TotalAHSLength in 4-byte words
        Assert.Equal(new byte[] { 0, 0, 5 }, wire[5..8]); // DataSegmentLength, unpadded
        Assert.Equal(Crc32C.Compute(wire.AsSpan(0, 60)), Crc32C.Read(wire.AsSpan(60)));
        Assert.Equal(0, wire[57] | wire[58] | wire[59]); // AHS padding is zero
    }

    [Fact]
    public void DataIsPaddedToFourBytesWithDigest()
    {
        var dest = new byte[16];
        int n = PduWireFormat.WriteData(new byte[] { 9, 9, 9, 9, 9 }, dest, dataDigest: true);
        Assert.Equal(8 + 4, n);
        Assert.Equal(new byte[] { 9, 9, 9, 9, 9, 0, 0, 0 }, dest[..8]);
        Assert.Equal(Crc32C.Compute(dest.AsSpan(0, 8)), Crc32C.Read(dest.AsSpan(8)));
    }

    [Fact]
    public void TargetRefusesTargetOpcode()
    {
        var bhs = new byte[48];
        bhs[0] = (byte)IscsiOpcode.ScsiResponse;
        var e = Assert.Throws<PduFormatException>(() => PduWireFormat.ValidateReceivedHeader(bhs, receiverIsTarget: true, 8192));
        Assert.Contains("only a target may send", e.Message);
    }

    [Fact]
    public void OversizedSegmentIsRefusedBeforeReadingIt()
    {
        var bhs = new byte[48];
        bhs[0] = (byte)IscsiOpcode.ScsiCommand;
        bhs[5] = 0x01; // 65536 bytes
        var e = Assert.Throws<PduFormatException>(() => PduWireFormat.ValidateReceivedHeader(bhs, receiverIsTarget: true, 8192));
        Assert.Contains("MaxRecvDataSegmentLength of 8192", e.Message);
        Assert.False(e.Recoverable);
    }
}
