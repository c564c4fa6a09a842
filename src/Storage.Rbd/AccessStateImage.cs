using System.Buffers.Binary;
using Iser.Core.Scsi.Target.Alua;

namespace Iser.Storage.Rbd;

/// <summary>The target port groups one gateway published, under its RADOS client's global id.</summary>
internal sealed record GatewayGroups(ulong Gateway, TargetPortGroup[] Groups);

/// <summary>
/// The payload of the ALUA object <c>iser.alua.IMAGE_ID</c>: every gateway's published groups. Big-endian: format u8
/// (1), gateway count u16; per gateway: its global id u64, group count u16, per group: identifier u16, state u8,
/// status code u8.
/// </summary>
internal static class AccessStateImage
{
    private const byte Format = 1;

    public static byte[] Encode(IReadOnlyList<GatewayGroups> gateways)
    {
        int length = 3;
        foreach (var g in gateways) length += 10 + 4 * g.Groups.Length;
        var d = new byte[length];
        d[0] = Format;
        BinaryPrimitives.WriteUInt16BigEndian(d.AsSpan(1), checked((ushort)gateways.Count));
        int at = 3;
        foreach (var g in gateways)
        {
            BinaryPrimitives.WriteUInt64BigEndian(d.AsSpan(at), g.Gateway);
            BinaryPrimitives.WriteUInt16BigEndian(d.AsSpan(at + 8), checked((ushort)g.Groups.Length));
            at += 10;
            foreach (var group in g.Groups)
            {
                BinaryPrimitives.WriteUInt16BigEndian(d.AsSpan(at), group.Id);
                d[at + 2] = (byte)group.State;
                d[at + 3] = group.StatusCode;
                at += 4;
            }
        }
        return d;
    }

    /// <exception cref="InvalidDataException">Not a payload this build reads.</exception>
    public static List<GatewayGroups> Decode(ReadOnlySpan<byte> d)
    {
        var gateways = new List<GatewayGroups>();
        if (d.IsEmpty) return gateways; // nothing published yet
        if (d.Length < 3 || d[0] != Format) throw new InvalidDataException($"The ALUA object holds {d.Length} bytes of an unknown format.");
        int count = BinaryPrimitives.ReadUInt16BigEndian(d[1..]);
        int at = 3;
        for (int i = 0; i < count; i++)
        {
            if (at + 10 > d.Length) throw new InvalidDataException("The ALUA object is truncated.");
            ulong gateway = BinaryPrimitives.ReadUInt64BigEndian(d[at..]);
            int groups = BinaryPrimitives.ReadUInt16BigEndian(d[(at + 8)..]);
            at += 10;
            if (at + 4 * groups > d.Length) throw new InvalidDataException("The ALUA object is truncated.");
            var list = new TargetPortGroup[groups];
            for (int j = 0; j < groups; j++, at += 4)
                list[j] = new TargetPortGroup(BinaryPrimitives.ReadUInt16BigEndian(d[at..]), (AluaState)d[at + 2], d[at + 3]);
            gateways.Add(new GatewayGroups(gateway, list));
        }
        if (at != d.Length) throw new InvalidDataException("Bytes left over in the ALUA object.");
        return gateways;
    }
}
