namespace Iser.Transport.Iser.Protocol;

/// <summary>
/// The iSER CM REQ / CM REP private data on IB and RoCE (RFC 7145 §9.1): 4 bytes, flags in byte 0, bytes 1-3 reserved.
/// <list type="bullet">
/// <item>REQ (initiator → target): 0x80 ZBVA — the initiator's tagged buffers do not use zero-based virtual
/// addresses (Base Offsets are real VAs); 0x40 SIE — the initiator does not support Send with Invalidate.</item>
/// <item>REP (target → initiator): 0x80 ZBVA not used; 0x40 Send with Invalidate not used.</item>
/// </list>
/// Linux iser/isert, tgt and libiscsi all send the REQ with both bits set, as we do: we advertise real VAs and
/// never use Send with Invalidate. The CM pads private data to its fixed message size, so only byte 0 is read.
/// </summary>
public readonly record struct IserCmPrivateData(bool ZeroBasedVirtualAddressNotUsed, bool SendWithInvalidateNotUsed)
{
    public const int Length = 4;
    internal const byte ZbvaFlag = 0x80;
    internal const byte SendWithInvalidateFlag = 0x40;

    /// <summary>What our initiator sends and our target answers: real VAs, no Send with Invalidate.</summary>
    public static IserCmPrivateData Default => new(true, true);

    public byte[] ToArray()
    {
        var bytes = new byte[Length];
        Write(bytes);
        return bytes;
    }

    public void Write(Span<byte> destination)
    {
        if (destination.Length < Length)
            throw new ArgumentException($"iSER CM private data needs {Length} bytes.", nameof(destination));
        destination[0] = (byte)((ZeroBasedVirtualAddressNotUsed ? ZbvaFlag : 0) | (SendWithInvalidateNotUsed ? SendWithInvalidateFlag : 0));
        destination[1] = destination[2] = destination[3] = 0;
    }

    /// <summary>Decodes what a peer sent; an empty private data block (some initiators send none) reads as all flags clear.</summary>
    public static IserCmPrivateData Read(ReadOnlySpan<byte> source) =>
        source.IsEmpty ? new(false, false) : new((source[0] & ZbvaFlag) != 0, (source[0] & SendWithInvalidateFlag) != 0);
}
