using System.Buffers.Binary;
using System.Text;
using Iser.Core.Iscsi.Pdus;

namespace Iser.Core.Scsi.Target.Reservations;

/// <summary>
/// The bytes APTPL keeps across power loss: registrations, the reservation and the APTPL bit, versioned and
/// checksummed so a damaged file is refused rather than half believed. PRgeneration is not kept: power on sets it
/// to zero whatever APTPL says (SPC-4 §6.15.2).
/// </summary>
/// <remarks>
/// Layout, big-endian: "ISPR", version u16, flags u8 (bit 0 APTPL), type u8, total length u32, holder index u32
/// (FFFFFFFFh: none, or every registrant), count u32; per registration: key u64, flags u8 (bit 0 ISID present,
/// bit 1 all target ports), reserved u8, relative target port u16, ISID u64, name length u16, UTF-8 name;
/// then CRC32C of everything before it.
/// </remarks>
internal static class PersistentReservationImage
{
    public const ushort Version = 1;
    private static ReadOnlySpan<byte> Magic => "ISPR"u8;
    private const int HeaderLength = 20;
    private const int DigestLength = 4;
    private const uint NoHolder = uint.MaxValue;
    private static readonly UTF8Encoding StrictUtf8 = new(false, true);

    public sealed record Decoded(bool Aptpl, PrType Type, int HolderIndex, IReadOnlyList<(ItNexusPattern Nexuses, ulong Key)> Registrations);

    public static byte[] Encode(bool aptpl, PrType type, int holderIndex, IReadOnlyList<Registration> registrations)
    {
        int length = HeaderLength + DigestLength;
        foreach (var r in registrations) length += 22 + Encoding.UTF8.GetByteCount(r.Nexuses.InitiatorName);
        var image = new byte[length];
        var s = image.AsSpan();
        Magic.CopyTo(s);
        BinaryPrimitives.WriteUInt16BigEndian(s[4..], Version);
        s[6] = (byte)(aptpl ? 0x01 : 0x00);
        s[7] = (byte)type;
        BinaryPrimitives.WriteUInt32BigEndian(s[8..], (uint)length);
        BinaryPrimitives.WriteUInt32BigEndian(s[12..], holderIndex < 0 ? NoHolder : (uint)holderIndex);
        BinaryPrimitives.WriteUInt32BigEndian(s[16..], (uint)registrations.Count);
        int at = HeaderLength;
        foreach (var r in registrations)
        {
            var n = r.Nexuses;
            BinaryPrimitives.WriteUInt64BigEndian(s[at..], r.Key);
            s[at + 8] = (byte)((n.Isid.HasValue ? 0x01 : 0) | (n.AllTargetPorts ? 0x02 : 0));
            BinaryPrimitives.WriteUInt16BigEndian(s[(at + 10)..], n.RelativeTargetPortId ?? 0);
            BinaryPrimitives.WriteUInt64BigEndian(s[(at + 12)..], n.Isid ?? 0);
            int nameLength = Encoding.UTF8.GetBytes(n.InitiatorName, s[(at + 22)..]);
            BinaryPrimitives.WriteUInt16BigEndian(s[(at + 20)..], (ushort)nameLength);
            at += 22 + nameLength;
        }
        Crc32C.Write(s[at..], Crc32C.Compute(s[..at]));
        return image;
    }

    /// <exception cref="InvalidDataException">The image is truncated, damaged, or from an unknown version.</exception>
    public static Decoded Decode(ReadOnlySpan<byte> image)
    {
        if (image.Length < HeaderLength + DigestLength)
            throw Corrupt($"truncated: {image.Length} bytes, shorter than the {HeaderLength + DigestLength}-byte minimum");
        if (!image[..4].SequenceEqual(Magic)) throw Corrupt("not a persistent reservation image (bad magic)");
        ushort version = BinaryPrimitives.ReadUInt16BigEndian(image[4..]);
        if (version != Version) throw Corrupt($"unsupported version {version} (this build reads version {Version})");
        uint declared = BinaryPrimitives.ReadUInt32BigEndian(image[8..]);
        if (declared > image.Length) throw Corrupt($"truncated: {image.Length} of {declared} bytes");
        if (declared < image.Length) throw Corrupt($"{image.Length - declared} bytes after the {declared}-byte image");
        int body = image.Length - DigestLength;
        if (Crc32C.Read(image[body..]) != Crc32C.Compute(image[..body])) throw Corrupt("checksum mismatch (the file is damaged)");

        bool aptpl = (image[6] & 0x01) != 0;
        var type = (PrType)image[7];
        uint holder = BinaryPrimitives.ReadUInt32BigEndian(image[12..]);
        uint count = BinaryPrimitives.ReadUInt32BigEndian(image[16..]);
        var registrations = new List<(ItNexusPattern, ulong)>();
        int at = HeaderLength;
        for (uint i = 0; i < count; i++)
        {
            if (at + 22 > body) throw Corrupt($"registration {i} runs past the end");
            ulong key = BinaryPrimitives.ReadUInt64BigEndian(image[at..]);
            byte flags = image[at + 8];
            ushort port = BinaryPrimitives.ReadUInt16BigEndian(image[(at + 10)..]);
            ulong isid = BinaryPrimitives.ReadUInt64BigEndian(image[(at + 12)..]);
            int nameLength = BinaryPrimitives.ReadUInt16BigEndian(image[(at + 20)..]);
            if (at + 22 + nameLength > body) throw Corrupt($"registration {i} runs past the end");
            string name;
            try { name = StrictUtf8.GetString(image.Slice(at + 22, nameLength)); }
            catch (DecoderFallbackException) { throw Corrupt($"registration {i} has a name that is not UTF-8"); }
            var nexuses = new ItNexusPattern(name, (flags & 0x01) != 0 ? isid : null, (flags & 0x02) != 0 ? null : port);
            registrations.Add((nexuses, key));
            at += 22 + nameLength;
        }
        if (at != body) throw Corrupt("bytes left over after the registrations");
        return new Decoded(aptpl, type, holder == NoHolder ? -1 : (int)Math.Min(holder, int.MaxValue), registrations);
    }

    public static InvalidDataException Corrupt(string reason) => new($"Persistent reservation image refused: {reason}.");
}
