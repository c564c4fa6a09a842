using Iser.Core.Datamover;

namespace Iser.Core.Iscsi.Pdus;

/// <summary>
/// Byte layout of a PDU on a stream transport (RFC 7143 §11.1): BHS, AHS, header digest, data segment padded to
/// 4 bytes, data digest. iSER reuses <see cref="WriteHeader"/> without digests.
/// </summary>
public static class PduWireFormat
{
    public const int DigestLength = 4;
    /// <summary>The RFC caps DataSegmentLength at 2^24-1; MaxRecvDataSegmentLength is at most this.</summary>
    public const int MaxDataSegmentLength = 16777215;

    public static int Pad(int length) => (length + 3) & ~3;

    /// <summary>Bytes of BHS + AHS (+ header digest) for this PDU.</summary>
    public static int HeaderLength(Pdu pdu, bool headerDigest) =>
        Pdu.BhsLength + Pad(pdu.Ahs.Length) + (headerDigest ? DigestLength : 0);

    /// <summary>Bytes of padded data segment (+ data digest), zero when there is no data.</summary>
    public static int DataLength(int dataSegmentLength, bool dataDigest) =>
        dataSegmentLength == 0 ? 0 : Pad(dataSegmentLength) + (dataDigest ? DigestLength : 0);

    /// <summary>Writes BHS, AHS and the optional header digest. TotalAHSLength and DataSegmentLength are set from the PDU.</summary>
    public static int WriteHeader(Pdu pdu, Span<byte> destination, bool headerDigest)
    {
        int ahsPadded = Pad(pdu.Ahs.Length);
        if (ahsPadded / 4 > 255) throw new InvalidOperationException("AHS longer than 1020 bytes cannot be encoded.");
        pdu.Bhs[4] = (byte)(ahsPadded / 4);
        pdu.DataSegmentLength = pdu.Data.Length;
        pdu.Bhs.CopyTo(destination);
        int n = Pdu.BhsLength;
        if (ahsPadded > 0)
        {
            pdu.Ahs.Span.CopyTo(destination[n..]);
            destination.Slice(n + pdu.Ahs.Length, ahsPadded - pdu.Ahs.Length).Clear();
            n += ahsPadded;
        }
        if (headerDigest)
        {
            Crc32C.Write(destination[n..], Crc32C.Compute(destination[..n]));
            n += DigestLength;
        }
        return n;
    }

    /// <summary>Writes the padded data segment and optional data digest; returns the bytes written.</summary>
    public static int WriteData(ReadOnlySpan<byte> data, Span<byte> destination, bool dataDigest)
    {
        if (data.Length == 0) return 0;
        data.CopyTo(destination);
        int padded = Pad(data.Length);
        destination.Slice(data.Length, padded - data.Length).Clear();
        if (dataDigest)
        {
            Crc32C.Write(destination[padded..], Crc32C.Compute(destination[..padded]));
            return padded + DigestLength;
        }
        return padded;
    }

    /// <summary>Digest over data plus its zero padding, without copying the data.</summary>
    public static uint DataDigest(ReadOnlySpan<byte> data)
    {
        uint crc = Crc32C.Append(Crc32C.Seed, data);
        int pad = Pad(data.Length) - data.Length;
        if (pad > 0)
        {
            Span<byte> zeros = stackalloc byte[3];
            zeros.Clear();
            crc = Crc32C.Append(crc, zeros[..pad]);
        }
        return ~crc;
    }

    /// <summary>
    /// Checks a received BHS before anything else is read: opcode direction and the declared lengths.
    /// Throws <see cref="PduFormatException"/> (not recoverable: the stream position cannot be trusted).
    /// </summary>
    public static void ValidateReceivedHeader(ReadOnlySpan<byte> bhs, bool receiverIsTarget, int maxRecvDataSegmentLength)
    {
        int opcode = bhs[0] & 0x3f;
        bool initiatorOpcode = opcode < 0x20;
        if (receiverIsTarget != initiatorOpcode)
            throw new PduFormatException(
                $"Received opcode 0x{opcode:x2}, which only a {(initiatorOpcode ? "initiator" : "target")} may send.",
                recoverable: false, bhs.ToArray());
        int dsl = (bhs[5] << 16) | (bhs[6] << 8) | bhs[7];
        if (dsl > maxRecvDataSegmentLength)
            throw new PduFormatException(
                $"Data segment of {dsl} bytes exceeds the negotiated MaxRecvDataSegmentLength of {maxRecvDataSegmentLength}.",
                recoverable: false, bhs.ToArray());
    }
}
