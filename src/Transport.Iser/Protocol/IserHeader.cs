using System.Buffers.Binary;

namespace Iser.Transport.Iser.Protocol;

/// <summary>
/// The 28-byte iSER header that precedes every iSCSI control-type PDU in a SEND (RFC 7145 §9.2):
/// <code>
///  byte 0      : opcode (bits 0-3, i.e. the high nibble) | W (0x08) | R (0x04) | reserved
///  bytes 1-3   : reserved
///  bytes 4-7   : Write STag        (valid with W: the initiator's buffer the target RDMA READs from)
///  bytes 8-15  : Write Base Offset (the tagged offset, a virtual address on IB/RoCE)
///  bytes 16-19 : Read STag         (valid with R: the initiator's buffer the target RDMA WRITEs to)
///  bytes 20-27 : Read Base Offset
/// </code>
/// All fields big-endian. Hello / HelloReply use the same first byte but another body (<see cref="IserHello"/>).
/// </summary>
public readonly record struct IserHeader(
    IserOpcode Opcode,
    bool HasWrite,
    uint WriteStag,
    ulong WriteBaseOffset,
    bool HasRead,
    uint ReadStag,
    ulong ReadBaseOffset)
{
    public const int Length = 28;
    internal const byte WriteValidFlag = 0x08;
    internal const byte ReadValidFlag = 0x04;

    /// <summary>A control-type header without advertised buffers (login, text, NOP, responses).</summary>
    public static IserHeader Control => new(IserOpcode.IscsiControl, false, 0, 0, false, 0, 0);

    public void Write(Span<byte> destination)
    {
        if (destination.Length < Length)
            throw new ArgumentException($"An iSER header needs {Length} bytes; the buffer has {destination.Length}.", nameof(destination));
        byte first = (byte)((byte)Opcode << 4);
        if (HasWrite) first |= WriteValidFlag;
        if (HasRead) first |= ReadValidFlag;
        destination[0] = first;
        destination[1] = destination[2] = destination[3] = 0;
        BinaryPrimitives.WriteUInt32BigEndian(destination[4..], HasWrite ? WriteStag : 0);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], HasWrite ? WriteBaseOffset : 0);
        BinaryPrimitives.WriteUInt32BigEndian(destination[16..], HasRead ? ReadStag : 0);
        BinaryPrimitives.WriteUInt64BigEndian(destination[20..], HasRead ? ReadBaseOffset : 0);
    }

    /// <summary>Decodes a header; throws <see cref="IserProtocolException"/> when the message is too short or the opcode unknown.</summary>
    public static IserHeader Read(ReadOnlySpan<byte> source)
    {
        if (source.Length < Length)
            throw new IserProtocolException($"An iSER message of {source.Length} bytes is shorter than the {Length}-byte iSER header.");
        var opcode = (IserOpcode)(source[0] >> 4);
        if (opcode is not (IserOpcode.IscsiControl or IserOpcode.Hello or IserOpcode.HelloReply))
            throw new IserProtocolException($"The iSER header carries the unknown opcode 0x{(int)opcode:x} (first byte 0x{source[0]:x2}).");
        bool w = (source[0] & WriteValidFlag) != 0;
        bool r = (source[0] & ReadValidFlag) != 0;
        return new IserHeader(opcode,
            w, BinaryPrimitives.ReadUInt32BigEndian(source[4..]), BinaryPrimitives.ReadUInt64BigEndian(source[8..]),
            r, BinaryPrimitives.ReadUInt32BigEndian(source[16..]), BinaryPrimitives.ReadUInt64BigEndian(source[20..]));
    }
}
