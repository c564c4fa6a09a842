using System.Buffers.Binary;
using System.Text;

namespace Iser.Core.Scsi.Target.Reservations;

/// <summary>
/// An iSCSI TransportID (SPC-4 §7.6.4.6): protocol identifier 5h; format 00b names an initiator
/// device (its iSCSI name), format 01b one initiator port (name, the separator <c>,i,0x</c>, the ISID as 12 hex
/// digits). The text is null-terminated and null-padded to a multiple of four, at least 20 bytes after the header.
/// </summary>
/// <param name="Isid">Null for format 00b.</param>
public readonly record struct IscsiTransportId(string Name, ulong? Isid)
{
    public const byte ProtocolIdentifier = 0x05;
    /// <summary>The longest iSCSI name (RFC 7143 §4.2.7.1).</summary>
    public const int MaxNameBytes = 223;
    private const int HeaderLength = 4;
    private const int MinAdditionalLength = 20;
    private const int IsidDigits = 12;
    private static ReadOnlySpan<byte> Separator => ",i,0x"u8;
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static IscsiTransportId Of(in ItNexusPattern nexuses) => new(nexuses.InitiatorName, nexuses.Isid);

    /// <summary>Bytes <see cref="WriteTo"/> writes.</summary>
    public int EncodedLength
    {
        get
        {
            int text = Encoding.UTF8.GetByteCount(Name) + (Isid.HasValue ? Separator.Length + IsidDigits : 0) + 1;
            return HeaderLength + ((Math.Max(text, MinAdditionalLength) + 3) & ~3);
        }
    }

    /// <summary>Writes the TransportID (no allocation); <paramref name="destination"/> holds at least <see cref="EncodedLength"/> bytes.</summary>
    public int WriteTo(Span<byte> destination)
    {
        int length = EncodedLength;
        var id = destination[..length];
        id.Clear();
        id[0] = (byte)((Isid.HasValue ? 0x40 : 0x00) | ProtocolIdentifier);
        BinaryPrimitives.WriteUInt16BigEndian(id[2..], (ushort)(length - HeaderLength));
        int at = HeaderLength + Encoding.UTF8.GetBytes(Name, id[HeaderLength..]);
        if (Isid is { } isid)
        {
            Separator.CopyTo(id[at..]);
            at += Separator.Length;
            isid.TryFormat(id[at..], out _, "x12");
        }
        return length;
    }

    /// <summary>
    /// Decodes one TransportID at the start of <paramref name="source"/>. On failure <paramref name="invalidOffset"/>
    /// is the offset (from the TransportID's first byte) of the field that is wrong.
    /// </summary>
    public static bool TryDecode(ReadOnlySpan<byte> source, out IscsiTransportId id, out int length, out int invalidOffset)
    {
        id = default;
        length = 0;
        if (source.Length < HeaderLength + MinAdditionalLength) return Invalid(2, out invalidOffset);
        if ((source[0] & 0x0F) != ProtocolIdentifier) return Invalid(0, out invalidOffset);
        int format = source[0] >> 6;
        if (format > 1) return Invalid(0, out invalidOffset);
        int additional = BinaryPrimitives.ReadUInt16BigEndian(source[2..]);
        if (additional < MinAdditionalLength || additional % 4 != 0 || HeaderLength + additional > source.Length)
            return Invalid(2, out invalidOffset);

        var body = source.Slice(HeaderLength, additional);
        int end = body.IndexOf((byte)0);
        if (end < 0) return Invalid(HeaderLength, out invalidOffset); // not null-terminated
        var text = body[..end];
        ulong? isid = null;
        if (format == 1)
        {
            int separator = text.IndexOf(Separator);
            if (separator < 0) return Invalid(HeaderLength, out invalidOffset);
            var digits = text[(separator + Separator.Length)..];
            if (!TryParseIsid(digits, out ulong value)) return Invalid(HeaderLength + separator + Separator.Length, out invalidOffset);
            isid = value;
            text = text[..separator];
        }
        // iSCSI names have no commas (RFC 3722 §6.1): one here is a separator in the wrong format.
        if (text.IsEmpty || text.Length > MaxNameBytes || text.Contains((byte)','))
            return Invalid(HeaderLength, out invalidOffset);
        string name;
        try { name = StrictUtf8.GetString(text); }
        catch (DecoderFallbackException) { return Invalid(HeaderLength, out invalidOffset); }

        id = new IscsiTransportId(name, isid);
        length = HeaderLength + additional;
        invalidOffset = -1;
        return true;
    }

    public override string ToString() => Isid is { } isid ? $"{Name},i,0x{isid:x12}" : Name;

    private static bool TryParseIsid(ReadOnlySpan<byte> digits, out ulong value)
    {
        value = 0;
        if (digits.Length != IsidDigits) return false;
        foreach (byte c in digits)
        {
            int nibble = c switch
            {
                >= (byte)'0' and <= (byte)'9' => c - '0',
                >= (byte)'a' and <= (byte)'f' => c - 'a' + 10,
                >= (byte)'A' and <= (byte)'F' => c - 'A' + 10,
                _ => -1,
            };
            if (nibble < 0) return false;
            value = (value << 4) | (uint)nibble;
        }
        return true;
    }

    private static bool Invalid(int offset, out int invalidOffset)
    {
        invalidOffset = offset;
        return false;
    }
}
