using System.Buffers.Binary;
using CsCheck;
using Iser.Core.Iscsi.Pdus;
using Iser.Transport.Iser.Protocol;

namespace Iser.Tests.Fuzz;

/// <summary>
/// The iSER header, Hello/HelloReply, CM private data and the control-PDU codec (RFC 7145 §9) fed mutated messages:
/// decoding either succeeds or throws <see cref="IserProtocolException"/>; canonical messages round-trip byte for byte.
/// </summary>
[Trait("Category", "Fuzz")]
public sealed class IserCodecFuzzTests
{
    private static readonly Gen<IserHeader> GenHeader =
        Gen.Select(Gen.OneOf(IserOpcode.IscsiControl, IserOpcode.Hello, IserOpcode.HelloReply), Gen.Bool, Gen.UInt, Gen.ULong, Gen.Bool, Gen.UInt, Gen.ULong,
            (op, w, ws, wo, r, rs, ro) => new IserHeader(op, w, w ? ws : 0, w ? wo : 0, r, r ? rs : 0, r ? ro : 0));

    private static byte[] Bytes(IserHeader h)
    {
        var b = new byte[IserHeader.Length];
        h.Write(b);
        return b;
    }

    [Fact]
    public void HeaderDecodesOrRefusesAndRoundTrips() =>
        FuzzCampaign.Run("iser-header",
            Gen.Frequency((1, GenHeader.Select(h => (h, (byte[]?)Bytes(h)))),
                (4, Mutations.Around(GenHeader.Select(Bytes), 64, hot: [0, 4, 16]).Select(b => (default(IserHeader), (byte[]?)b)))),
            t =>
            {
                var (canonical, wire) = t;
                IserHeader? decoded = null;
                try { decoded = IserHeader.Read(wire); }
                catch (IserProtocolException e) { Assert.False(string.IsNullOrWhiteSpace(e.Message)); }
                FuzzCampaign.Count(decoded is null ? "refused" : "decoded");
                if (canonical != default) Assert.Equal(canonical, decoded); // encode then decode gives the header back
                if (decoded is { } h)
                {
                    Assert.True(wire!.Length >= IserHeader.Length);
                    // Re-encoding what was decoded keeps every field the flags make meaningful.
                    var again = IserHeader.Read(Bytes(h));
                    Assert.Equal((h.Opcode, h.HasWrite, h.HasRead), (again.Opcode, again.HasWrite, again.HasRead));
                    if (h.HasWrite) Assert.Equal((h.WriteStag, h.WriteBaseOffset), (again.WriteStag, again.WriteBaseOffset));
                    if (h.HasRead) Assert.Equal((h.ReadStag, h.ReadBaseOffset), (again.ReadStag, again.ReadBaseOffset));
                }
            }, t => FuzzCampaign.Hex(t.Item2));

    private static readonly Gen<IserHello> GenHello =
        Gen.Select(Gen.Bool, Gen.Byte[0, 15], Gen.Byte[0, 15], Gen.UShort, Gen.Bool,
            (reply, max, min, depth, rejected) => new IserHello(reply ? IserOpcode.HelloReply : IserOpcode.Hello, max, min, depth, reply && rejected));

    private static byte[] Bytes(IserHello h)
    {
        var b = new byte[IserHeader.Length];
        h.Write(b);
        return b;
    }

    [Fact]
    public void HelloDecodesOrRefusesAndRoundTrips() =>
        FuzzCampaign.Run("iser-hello", Gen.Select(GenHello, Gen.Int[0, 2], Mutations.List()), t =>
        {
            var (hello, how, edits) = t;
            var wire = how == 0 ? Bytes(hello) : Mutations.Apply(Bytes(hello), edits, [0, 1, 2]);
            IserHello? decoded = null;
            try { decoded = IserHello.Read(wire); }
            catch (IserProtocolException e) { Assert.False(string.IsNullOrWhiteSpace(e.Message)); }
            FuzzCampaign.Count(decoded is null ? "refused" : "decoded");
            if (how == 0) Assert.Equal(hello, decoded);
            if (decoded is { } d) Assert.Equal(d, IserHello.Read(Bytes(d)));
            // CM private data has no failure mode: any bytes give two flags, and the flags survive a round trip.
            var cm = IserCmPrivateData.Read(wire);
            Assert.Equal(cm, IserCmPrivateData.Read(cm.ToArray()));
        }, t => $"{t.Item1} how={t.Item2} edits={string.Join(",", t.Item3)}");

    // ---- a whole control PDU in one iSER message ----

    private static readonly Gen<byte[]> ValidMessage =
        Gen.Select(GenHeader.Where(h => h.Opcode == IserOpcode.IscsiControl), Gen.Byte.Array[Pdu.BhsLength], Gen.Int[0, 4], Gen.Byte.Array[0, 700],
            (header, bhs, ahsWords, data) =>
            {
                var pdu = new Pdu();
                bhs.CopyTo(pdu.Bhs, 0);
                var ahs = new byte[ahsWords * 4];
                new Random(bhs[9]).NextBytes(ahs);
                pdu.Ahs = ahs;
                pdu.SetData(data);
                pdu.Rdma = new RdmaBufferAdvertisement
                {
                    HasWrite = header.HasWrite, WriteStag = header.WriteStag, WriteVa = header.WriteBaseOffset,
                    HasRead = header.HasRead, ReadStag = header.ReadStag, ReadVa = header.ReadBaseOffset,
                };
                var buffer = new byte[IserHeader.Length + Pdu.BhsLength + ahs.Length + data.Length];
                Assert.Equal(buffer.Length, IserPduCodec.Encode(pdu, buffer));
                return buffer;
            });

    private static void DecodeProperty(byte[] message)
    {
        Pdu? pdu = null;
        try { pdu = IserPduCodec.Decode(message); }
        catch (IserProtocolException e) { Assert.False(string.IsNullOrWhiteSpace(e.Message)); FuzzCampaign.Count("refused"); }
        if (pdu is not null)
        {
            Assert.Equal(pdu.DataSegmentLength, pdu.Data.Length);
            Assert.Equal(pdu.TotalAhsLength, pdu.Ahs.Length);
            int used = IserHeader.Length + Pdu.BhsLength + pdu.Ahs.Length + pdu.Data.Length;
            Assert.True(used <= message.Length);
            FuzzCampaign.Count("decoded");
            // Encoding the decoded PDU gives back the message's header, BHS, AHS and data, with flag-less STags cleared.
            var expected = message.AsSpan(0, used).ToArray();
            var h = IserHeader.Read(expected);
            expected[0] &= 0xfc;
            expected[1] = expected[2] = expected[3] = 0;
            if (!h.HasWrite) expected.AsSpan(4, 12).Clear();
            if (!h.HasRead) expected.AsSpan(16, 12).Clear();
            var again = new byte[used];
            Assert.Equal(used, IserPduCodec.Encode(pdu, again));
            Assert.Equal(expected, again);
            PduPool.Return(pdu);
        }
    }

    [Fact]
    public void ControlPduDecodesOrRefusesAndRoundTrips() =>
        FuzzCampaign.Run("iser-pdu-codec", Mutations.Around(ValidMessage, 200, hot: [0, IserHeader.Length + 4, IserHeader.Length + 5, IserHeader.Length + 6]),
            DecodeProperty, b => FuzzCampaign.Hex(b));

    [Fact]
    public void TruncatedControlPduIsRefusedInWords()
    {
        var message = new byte[IserHeader.Length + Pdu.BhsLength];
        message[0] = 0x10;
        BinaryPrimitives.WriteUInt32BigEndian(message.AsSpan(IserHeader.Length + 4), 0xff_ff_ff_ff); // AHS 1020 bytes, 16 MiB data
        var e = Assert.Throws<IserProtocolException>(() => IserPduCodec.Decode(message));
        Assert.Contains("holds only 0 bytes", e.Message);
    }
}
