using Iser.Core.Iscsi.Pdus;
using Iser.Transport.Iser.Datamover;
using Iser.Transport.Iser.Protocol;

namespace Iser.Tests.IserTransport;

/// <summary>The iSER header, Hello messages and CM private data, byte for byte against RFC 7145 §9.</summary>
public sealed class IserHeaderTests
{
    [Fact]
    public void ControlHeaderWithBothBuffersMatchesRfc7145Layout()
    {
        var header = new IserHeader(IserOpcode.IscsiControl, true, 0x11223344, 0x0102030405060708, true, 0xaabbccdd, 0x1112131415161718);
        var bytes = new byte[IserHeader.Length];
        header.Write(bytes);
        byte[] expected =
        [
            0x1C, 0, 0, 0,                                   // opcode 0x1 in the high nibble, W=0x08, R=0x04
            0x11, 0x22, 0x33, 0x44,                          // Write STag
            0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,  // Write Base Offset
            0xaa, 0xbb, 0xcc, 0xdd,                          // Read STag
            0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18,  // Read Base Offset
        ];
        Assert.Equal(expected, bytes);
        Assert.Equal(header, IserHeader.Read(bytes));
    }

    [Fact]
    public void HeaderWithoutBuffersIsOpcodeOnlyAndStagsAreZeroed()
    {
        var bytes = Enumerable.Repeat((byte)0xee, IserHeader.Length).ToArray();
        new IserHeader(IserOpcode.IscsiControl, false, 0xdeadbeef, 42, false, 0xfeedface, 43).Write(bytes);
        Assert.Equal(0x10, bytes[0]);
        Assert.All(bytes.Skip(1), b => Assert.Equal(0, b));
        var read = IserHeader.Read(bytes);
        Assert.False(read.HasWrite);
        Assert.False(read.HasRead);
    }

    [Fact]
    public void WriteOnlyAndReadOnlyFlagsAreIndependent()
    {
        var bytes = new byte[IserHeader.Length];
        new IserHeader(IserOpcode.IscsiControl, true, 7, 8, false, 0, 0).Write(bytes);
        Assert.Equal(0x18, bytes[0]);
        new IserHeader(IserOpcode.IscsiControl, false, 0, 0, true, 7, 8).Write(bytes);
        Assert.Equal(0x14, bytes[0]);
        Assert.Equal(7u, IserHeader.Read(bytes).ReadStag);
    }

    [Fact]
    public void ShortMessageAndUnknownOpcodeAreRejectedWithASentence()
    {
        var e = Assert.Throws<IserProtocolException>(() => IserHeader.Read(new byte[27]));
        Assert.Contains("shorter than the 28-byte iSER header", e.Message);
        var bytes = new byte[IserHeader.Length];
        bytes[0] = 0x70;
        e = Assert.Throws<IserProtocolException>(() => IserHeader.Read(bytes));
        Assert.Contains("unknown opcode 0x7", e.Message);
    }

    [Fact]
    public void HelloAndHelloReplyCarryVersionsAndReadDepths()
    {
        var bytes = new byte[IserHeader.Length];
        new IserHello(IserOpcode.Hello, 1, 1, 0x0010).Write(bytes);
        Assert.Equal(new byte[] { 0x20, 0x11, 0x00, 0x10 }, bytes[..4]);
        Assert.All(bytes[4..], b => Assert.Equal(0, b));

        new IserHello(IserOpcode.HelloReply, 1, 1, 0x0203, Rejected: true).Write(bytes);
        Assert.Equal(new byte[] { 0x31, 0x11, 0x02, 0x03 }, bytes[..4]);
        var reply = IserHello.Read(bytes);
        Assert.True(reply.Rejected);
        Assert.Equal((ushort)0x0203, reply.ReadDepth);
        Assert.Throws<IserProtocolException>(() => IserHello.Read(new byte[IserHeader.Length] { 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }));
    }

    [Fact]
    public void CmPrivateDataIsFourBytesWithZbvaAndSendWithInvalidateFlags()
    {
        Assert.Equal(new byte[] { 0xC0, 0, 0, 0 }, IserCmPrivateData.Default.ToArray());
        Assert.Equal(new byte[] { 0x80, 0, 0, 0 }, new IserCmPrivateData(true, false).ToArray());
        Assert.Equal(new byte[] { 0x40, 0, 0, 0 }, new IserCmPrivateData(false, true).ToArray());
        // The CM pads private data (56 bytes in a REQ on IB/RoCE): only byte 0 counts.
        var padded = new byte[56];
        padded[0] = 0x80;
        Assert.Equal(new IserCmPrivateData(true, false), IserCmPrivateData.Read(padded));
        Assert.Equal(new IserCmPrivateData(false, false), IserCmPrivateData.Read([]));
    }

    [Fact]
    public void ControlPduEncodesAsIserHeaderThenBhsThenDataAndDecodesBack()
    {
        var pdu = PduPool.Rent();
        pdu.Opcode = IscsiOpcode.ScsiCommand;
        pdu.Final = true;
        pdu.InitiatorTaskTag = 0x01020304;
        pdu.Field20 = 4096;
        pdu.Rdma = new RdmaBufferAdvertisement { HasRead = true, ReadStag = 0x99, ReadVa = 0x7f0000001000 };
        pdu.SetData([1, 2, 3, 4, 5]);
        var buffer = new byte[IserOptions.HeaderRoom + 8192];
        int length = IserPduCodec.Encode(pdu, buffer);
        Assert.Equal(IserHeader.Length + Pdu.BhsLength + 5, length);
        Assert.Equal(0x14, buffer[0]);
        Assert.Equal(0x01, buffer[IserHeader.Length] & 0x3f); // SCSI Command opcode right after the iSER header
        Assert.Equal(new byte[] { 0, 0, 5 }, buffer[(IserHeader.Length + 5)..(IserHeader.Length + 8)]); // DataSegmentLength
        Assert.Equal(new byte[] { 1, 2, 3, 4, 5 }, buffer[(IserHeader.Length + 48)..length]);

        var decoded = IserPduCodec.Decode(buffer.AsSpan(0, length));
        Assert.Equal(IscsiOpcode.ScsiCommand, decoded.Opcode);
        Assert.Equal(0x01020304u, decoded.InitiatorTaskTag);
        Assert.True(decoded.Rdma.HasRead);
        Assert.False(decoded.Rdma.HasWrite);
        Assert.Equal(0x99u, decoded.Rdma.ReadStag);
        Assert.Equal(0x7f0000001000ul, decoded.Rdma.ReadVa);
        Assert.Equal(new byte[] { 1, 2, 3, 4, 5 }, decoded.Data.ToArray());
        PduPool.Return(pdu);
        PduPool.Return(decoded);
    }

    [Fact]
    public void TruncatedMessageAndOversizedPduAreRefused()
    {
        var pdu = PduPool.Rent();
        pdu.Opcode = IscsiOpcode.TextRequest;
        pdu.SetData(new byte[100]);
        var buffer = new byte[IserHeader.Length + 48 + 100];
        int length = IserPduCodec.Encode(pdu, buffer);
        var e = Assert.Throws<IserProtocolException>(() => IserPduCodec.Decode(buffer.AsSpan(0, length - 1)));
        Assert.Contains("declares 0 bytes of AHS and 100 bytes of data", e.Message);

        pdu.SetData(new byte[8193]);
        var small = new byte[IserOptions.HeaderRoom + 8192];
        var tooBig = Assert.ThrowsAny<Exception>(() => IserPduCodec.Encode(pdu, small.AsSpan(0, IserHeader.Length + 48 + 8192)));
        Assert.Contains("does not fit", tooBig.Message);
        PduPool.Return(pdu);
    }
}
