using System.Buffers.Binary;

namespace Iser.Core.Scsi.Target;

/// <summary>
/// The mode parameters of a block device (SPC-4 §7.5, SBC-3 §6.4): the caching page (08h, WCE changeable)
/// and the control page (0Ah, SWP changeable). Builds MODE SENSE(6/10) data and applies MODE SELECT(6/10)
/// parameter lists. Nothing is savable: saved values are refused.
/// </summary>
internal sealed class ModePages
{
    public const byte CachingPage = 0x08;
    public const byte ControlPage = 0x0A;
    public const byte AllPages = 0x3F;

    private const int CachingLength = 20;
    private const int ControlLength = 12;
    private const byte WceBit = 0x04;   // caching page byte 2
    private const byte SwpBit = 0x08;   // control page byte 4

    private readonly bool _defaultWce;
    private volatile bool _wce;
    private volatile bool _swp;

    public ModePages(bool writeCacheEnabled)
    {
        _defaultWce = writeCacheEnabled;
        _wce = writeCacheEnabled;
    }

    /// <summary>Write cache enabled (WCE): when false every write is made durable before GOOD.</summary>
    public bool WriteCacheEnabled => _wce;

    /// <summary>Software write protect (SWP): the initiator has asked for writes to be refused.</summary>
    public bool SoftwareWriteProtect => _swp;

    /// <summary>Back to power-on values (LU reset, target reset).</summary>
    public void RestoreDefaults()
    {
        _wce = _defaultWce;
        _swp = false;
    }

    public enum PageControl { Current = 0, Changeable = 1, Default = 2, Saved = 3 }

    public readonly record struct BlockDescriptor(long BlockCount, int BlockSize);

    /// <summary>
    /// The complete MODE SENSE data, or null when <paramref name="pageCode"/> / <paramref name="subpage"/> name
    /// nothing we have. <paramref name="deviceSpecific"/> is the header's DEVICE-SPECIFIC PARAMETER (WP, DPOFUA).
    /// </summary>
    public byte[]? Sense(bool tenByte, byte pageCode, byte subpage, PageControl pc, BlockDescriptor? descriptor,
        bool longLba, byte deviceSpecific)
    {
        if (subpage != 0x00 && subpage != 0xFF) return null;
        List<byte[]> pages = pageCode switch
        {
            CachingPage => [Caching(pc)],
            ControlPage => [Control(pc)],
            AllPages => [Caching(pc), Control(pc)],
            _ => [],
        };
        if (pages.Count == 0) return null;

        int header = tenByte ? 8 : 4;
        int descriptorLength = descriptor is null ? 0 : (tenByte && longLba ? 16 : 8);
        int total = header + descriptorLength + pages.Sum(p => p.Length);
        var d = new byte[total];
        if (tenByte)
        {
            BinaryPrimitives.WriteUInt16BigEndian(d, (ushort)(total - 2));
            d[3] = deviceSpecific;
            if (descriptorLength == 16) d[4] = 0x01; // LONGLBA
            BinaryPrimitives.WriteUInt16BigEndian(d.AsSpan(6, 2), (ushort)descriptorLength);
        }
        else
        {
            d[0] = (byte)(total - 1);
            d[2] = deviceSpecific;
            d[3] = (byte)descriptorLength;
        }
        int p = header;
        if (descriptor is { } bd)
        {
            var span = d.AsSpan(p, descriptorLength);
            if (descriptorLength == 16)
            {
                BinaryPrimitives.WriteUInt64BigEndian(span, (ulong)bd.BlockCount);
                BinaryPrimitives.WriteUInt32BigEndian(span[12..], (uint)bd.BlockSize);
            }
            else
            {
                BinaryPrimitives.WriteUInt32BigEndian(span, bd.BlockCount > uint.MaxValue ? uint.MaxValue : (uint)bd.BlockCount);
                span[5] = (byte)(bd.BlockSize >> 16);
                span[6] = (byte)(bd.BlockSize >> 8);
                span[7] = (byte)bd.BlockSize;
            }
            p += descriptorLength;
        }
        foreach (var page in pages)
        {
            page.CopyTo(d, p);
            p += page.Length;
        }
        return d;
    }

    /// <summary>
    /// Validates and applies a MODE SELECT parameter list. Returns null on success, or the sense to report.
    /// Only the changeable bits (WCE, SWP) may differ from the current values; nothing is applied unless all
    /// of the list is valid.
    /// </summary>
    public byte[]? Select(bool tenByte, ReadOnlySpan<byte> list, int blockSize)
    {
        int header = tenByte ? 8 : 4;
        if (list.Length < header) return SenseBuilder.Fixed(SenseCondition.ParameterListLengthError);
        byte mediumType = tenByte ? list[2] : list[1];
        if (mediumType != 0) return SenseBuilder.ParameterField(SenseCondition.InvalidFieldInParameterList, tenByte ? 2 : 1);
        bool longLba = tenByte && (list[4] & 0x01) != 0;
        int descriptorLength = tenByte ? BinaryPrimitives.ReadUInt16BigEndian(list[6..]) : list[3];
        int expectedDescriptor = longLba ? 16 : 8;
        if (descriptorLength != 0 && descriptorLength != expectedDescriptor)
            return SenseBuilder.ParameterField(SenseCondition.InvalidFieldInParameterList, tenByte ? 6 : 3);
        if (list.Length < header + descriptorLength) return SenseBuilder.Fixed(SenseCondition.ParameterListLengthError);
        if (descriptorLength != 0)
        {
            var bd = list.Slice(header, descriptorLength);
            int givenBlockSize = longLba ? (int)BinaryPrimitives.ReadUInt32BigEndian(bd[12..]) : (bd[5] << 16) | (bd[6] << 8) | bd[7];
            if (givenBlockSize != blockSize)
                return SenseBuilder.ParameterField(SenseCondition.InvalidFieldInParameterList, header + (longLba ? 12 : 5));
        }

        bool wce = _wce, swp = _swp;
        int p = header + descriptorLength;
        while (p < list.Length)
        {
            var rest = list[p..];
            if (rest.Length < 2) return SenseBuilder.Fixed(SenseCondition.ParameterListLengthError);
            if ((rest[0] & 0x40) != 0) // SPF: we have no subpages
                return SenseBuilder.ParameterField(SenseCondition.InvalidFieldInParameterList, p, 6);
            byte code = (byte)(rest[0] & 0x3F);
            byte[] current, changeable;
            switch (code)
            {
                case CachingPage: current = Caching(PageControl.Current); changeable = Caching(PageControl.Changeable); break;
                case ControlPage: current = Control(PageControl.Current); changeable = Control(PageControl.Changeable); break;
                default: return SenseBuilder.ParameterField(SenseCondition.InvalidFieldInParameterList, p);
            }
            if (rest[1] != current[1]) return SenseBuilder.ParameterField(SenseCondition.InvalidFieldInParameterList, p + 1);
            if (rest.Length < current.Length) return SenseBuilder.Fixed(SenseCondition.ParameterListLengthError);
            for (int i = 2; i < current.Length; i++)
            {
                if (((rest[i] ^ current[i]) & ~changeable[i]) != 0)
                    return SenseBuilder.ParameterField(SenseCondition.InvalidFieldInParameterList, p + i);
            }
            if (code == CachingPage) wce = (rest[2] & WceBit) != 0;
            else swp = (rest[4] & SwpBit) != 0;
            p += current.Length;
        }
        _wce = wce;
        _swp = swp;
        return null;
    }

    private byte[] Caching(PageControl pc)
    {
        var d = new byte[CachingLength];
        d[0] = CachingPage;
        d[1] = CachingLength - 2;
        bool wce = pc switch
        {
            PageControl.Current => _wce,
            PageControl.Changeable => true,
            _ => _defaultWce,
        };
        if (wce) d[2] |= WceBit;
        return d;
    }

    private byte[] Control(PageControl pc)
    {
        var d = new byte[ControlLength];
        d[0] = ControlPage;
        d[1] = ControlLength - 2;
        if (pc == PageControl.Changeable)
        {
            d[4] = SwpBit;
            return d;
        }
        d[3] = 0x10; // QUEUE ALGORITHM MODIFIER 1: unrestricted reordering; QERR 0
        if (pc == PageControl.Current && _swp) d[4] |= SwpBit;
        BinaryPrimitives.WriteUInt16BigEndian(d.AsSpan(8, 2), 0xFFFF); // BUSY TIMEOUT PERIOD: unlimited
        return d;
    }
}
