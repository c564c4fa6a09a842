using System.Buffers.Binary;

namespace Iser.Core.Scsi.Target.Alua;

/// <summary>The parameter data of REPORT TARGET PORT GROUPS (SPC-4 §6.27).</summary>
public static class TargetPortGroupsReport
{
    public const byte LengthOnlyFormat = 0b000;
    public const byte ExtendedFormat = 0b001;
    /// <summary>T_SUP, U_SUP, S_SUP, AN_SUP, AO_SUP: the states a group can be in here (no offline, no LBA dependent).</summary>
    public const byte SupportedStates = 0x80 | 0x08 | 0x04 | 0x02 | 0x01;

    /// <summary>
    /// Header (4 bytes, or 8 with the extended format), then per group an 8-byte descriptor and its one target port.
    /// RETURN DATA LENGTH counts every byte after itself, the extended header's included.
    /// </summary>
    public static byte[] Build(IReadOnlyCollection<TargetPortGroup> groups, bool extended)
    {
        const int descriptorLength = 8 + 4; // one target port per group
        int header = extended ? 8 : 4;
        var d = new byte[header + groups.Count * descriptorLength];
        BinaryPrimitives.WriteUInt32BigEndian(d, (uint)(d.Length - 4));
        if (extended)
        {
            d[4] = ExtendedFormat << 4; // FORMAT TYPE
            d[5] = 0;                   // IMPLICIT TRANSITION TIME: transitions here are immediate
        }
        int p = header;
        foreach (var g in groups)
        {
            d[p] = (byte)g.State;       // PREF 0
            d[p + 1] = SupportedStates;
            BinaryPrimitives.WriteUInt16BigEndian(d.AsSpan(p + 2), g.Id);
            d[p + 5] = g.StatusCode;
            d[p + 7] = 1;               // TARGET PORT COUNT
            BinaryPrimitives.WriteUInt16BigEndian(d.AsSpan(p + 10), g.RelativeTargetPortId);
            p += descriptorLength;
        }
        return d;
    }
}
