using Iser.Core.Datamover;
using Iser.Core.Iscsi.Pdus;
using Iser.Transport.Iser.Datamover;

namespace Iser.Transport.Iser.Protocol;

/// <summary>An iSCSI control PDU in an iSER message (RFC 7145 §9.1): the iSER header, then BHS, AHS and data segment.</summary>
internal static class IserPduCodec
{
    /// <summary>iSER header, BHS, AHS, data segment (no digests, no padding needed: the receiver reads DataSegmentLength).</summary>
    internal static int Encode(Pdu pdu, Span<byte> buffer)
    {
        var rdma = pdu.Rdma;
        new IserHeader(IserOpcode.IscsiControl, rdma.HasWrite, rdma.WriteStag, rdma.WriteVa, rdma.HasRead, rdma.ReadStag, rdma.ReadVa)
            .Write(buffer);
        int headerLength = PduWireFormat.HeaderLength(pdu, headerDigest: false);
        if (IserHeader.Length + headerLength + pdu.Data.Length > buffer.Length)
            throw new DatamoverException(
                $"A {pdu.Opcode} PDU with a {pdu.Data.Length}-byte data segment does not fit the {buffer.Length - IserOptions.HeaderRoom}-byte iSER control buffer (the negotiated Initiator/TargetRecvDataSegmentLength).");
        int n = IserHeader.Length + PduWireFormat.WriteHeader(pdu, buffer[IserHeader.Length..], headerDigest: false);
        pdu.Data.Span.CopyTo(buffer[n..]);
        return n + pdu.Data.Length;
    }

    /// <summary>Decodes one received iSER message into a PDU (copied: the receive buffer is reposted at once).</summary>
    internal static Pdu Decode(ReadOnlySpan<byte> message)
    {
        var header = IserHeader.Read(message);
        if (header.Opcode != IserOpcode.IscsiControl)
            throw new IserProtocolException($"Received an iSER {header.Opcode} message; only iSCSI control-type PDUs are used on IB/RoCE.");
        var body = message[IserHeader.Length..];
        if (body.Length < Pdu.BhsLength)
            throw new IserProtocolException($"An iSER message of {message.Length} bytes is too short for an iSCSI BHS.");
        var pdu = PduPool.Rent();
        body[..Pdu.BhsLength].CopyTo(pdu.Bhs);
        int ahs = pdu.TotalAhsLength;
        int dsl = pdu.DataSegmentLength;
        if (Pdu.BhsLength + ahs + dsl > body.Length)
        {
            PduPool.Return(pdu);
            throw new IserProtocolException(
                $"A received {(Core.Iscsi.Pdus.IscsiOpcode)(body[0] & 0x3f)} PDU declares {ahs} bytes of AHS and {dsl} bytes of data, but the iSER message holds only {body.Length - Pdu.BhsLength} bytes after the BHS.");
        }
        if (ahs > 0) pdu.Ahs = body.Slice(Pdu.BhsLength, ahs).ToArray();
        pdu.SetData(body.Slice(Pdu.BhsLength + ahs, dsl));
        pdu.Rdma = new RdmaBufferAdvertisement
        {
            HasWrite = header.HasWrite, WriteStag = header.WriteStag, WriteVa = header.WriteBaseOffset,
            HasRead = header.HasRead, ReadStag = header.ReadStag, ReadVa = header.ReadBaseOffset,
        };
        return pdu;
    }
}
