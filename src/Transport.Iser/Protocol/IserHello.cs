using System.Buffers.Binary;

namespace Iser.Transport.Iser.Protocol;

/// <summary>
/// iSER Hello and HelloReply (RFC 7145 §9.3, §9.4), exchanged on iWARP before login. IB/RoCE carry the same
/// information in the CM REQ/REP private data instead (<see cref="IserCmPrivateData"/>); kept for completeness.
/// <code>
/// Hello      : byte 0 = 0x20 | byte 1 = MaxVer(hi nibble) MinVer(lo) | bytes 2-3 = iSER-IRD | 4-27 reserved
/// HelloReply : byte 0 = 0x30 | Rej(0x01) | byte 1 = MaxVer(hi) CurVer(lo) | bytes 2-3 = iSER-ORD | 4-27 reserved
/// </code>
/// </summary>
public readonly record struct IserHello(IserOpcode Opcode, byte MaxVersion, byte MinOrCurrentVersion, ushort ReadDepth, bool Rejected = false)
{
    public const byte Version = 0x1;

    public void Write(Span<byte> destination)
    {
        if (destination.Length < IserHeader.Length)
            throw new ArgumentException($"An iSER Hello needs {IserHeader.Length} bytes.", nameof(destination));
        destination[..IserHeader.Length].Clear();
        destination[0] = (byte)(((byte)Opcode << 4) | (Opcode == IserOpcode.HelloReply && Rejected ? 0x01 : 0));
        destination[1] = (byte)((MaxVersion << 4) | (MinOrCurrentVersion & 0x0f));
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], ReadDepth);
    }

    public static IserHello Read(ReadOnlySpan<byte> source)
    {
        if (source.Length < IserHeader.Length)
            throw new IserProtocolException($"An iSER Hello of {source.Length} bytes is shorter than {IserHeader.Length} bytes.");
        var opcode = (IserOpcode)(source[0] >> 4);
        if (opcode is not (IserOpcode.Hello or IserOpcode.HelloReply))
            throw new IserProtocolException($"Expected an iSER Hello or HelloReply, got opcode 0x{(int)opcode:x}.");
        return new IserHello(opcode, (byte)(source[1] >> 4), (byte)(source[1] & 0x0f),
            BinaryPrimitives.ReadUInt16BigEndian(source[2..]), opcode == IserOpcode.HelloReply && (source[0] & 0x01) != 0);
    }
}
