using System.Buffers.Binary;

namespace Iser.Core.Scsi.Initiator;

/// <summary>
/// Parsers for the VPD pages an initiator reads. Each checks the 4-byte header (page code, PAGE LENGTH) and
/// throws <see cref="ScsiDataFormatException"/> when the page is for another code or shorter than PAGE LENGTH
/// says; <see cref="RequiredLength"/> tells the allocation length that returns the whole page.
/// </summary>
public static class VpdPages
{
    public const int HeaderLength = 4;

    /// <summary>4 + PAGE LENGTH: the allocation length needed for the whole page.</summary>
    public static int RequiredLength(ReadOnlySpan<byte> page)
    {
        ScsiDataFormatException.ThrowIfShorter("VPD page", page.Length, HeaderLength, "the page header");
        return HeaderLength + BinaryPrimitives.ReadUInt16BigEndian(page[2..]);
    }

    /// <summary>Page 0x00: the page codes the device server supports, in its order.</summary>
    public static byte[] ParseSupportedPages(ReadOnlySpan<byte> page) =>
        Body(page, VpdPageCode.SupportedPages, "Supported VPD Pages").ToArray();

    /// <summary>Page 0x80: PRODUCT SERIAL NUMBER, spaces and NULs trimmed.</summary>
    public static string ParseUnitSerialNumber(ReadOnlySpan<byte> page) =>
        ScsiAscii.Trimmed(Body(page, VpdPageCode.UnitSerialNumber, "Unit Serial Number VPD page"));

    /// <summary>Page 0x83: the designation descriptors.</summary>
    public static IReadOnlyList<DeviceDesignator> ParseDeviceIdentification(ReadOnlySpan<byte> page)
    {
        var body = Body(page, VpdPageCode.DeviceIdentification, "Device Identification VPD page");
        var list = new List<DeviceDesignator>();
        int p = 0;
        while (p < body.Length)
        {
            if (body.Length - p < 4)
                throw new ScsiDataFormatException(
                    $"Device Identification VPD page: designation descriptor at page offset {HeaderLength + p} has {body.Length - p} of its 4 header bytes.");
            int length = body[p + 3];
            if (p + 4 + length > body.Length)
                throw new ScsiDataFormatException(
                    $"Device Identification VPD page: designation descriptor at page offset {HeaderLength + p} says {length} designator bytes follow but only {body.Length - p - 4} remain.");
            list.Add(new DeviceDesignator
            {
                ProtocolIdentifier = (byte)(body[p] >> 4),
                CodeSet = (DesignatorCodeSet)(body[p] & 0x0f),
                ProtocolIdentifierValid = (body[p + 1] & 0x80) != 0,
                Association = (DesignatorAssociation)((body[p + 1] >> 4) & 0x03),
                Type = (DesignatorType)(body[p + 1] & 0x0f),
                Value = body.Slice(p + 4, length).ToArray(),
            });
            p += 4 + length;
        }
        return list;
    }

    /// <summary>
    /// Page 0xB0. Needs the page through OPTIMAL TRANSFER LENGTH (16 bytes, the SBC-2 size); later fields are
    /// read when the page has them.
    /// </summary>
    public static BlockLimits ParseBlockLimits(ReadOnlySpan<byte> page)
    {
        var body = Body(page, VpdPageCode.BlockLimits, "Block Limits VPD page");
        ScsiDataFormatException.ThrowIfShorter("Block Limits VPD page", HeaderLength + body.Length, 16,
            "the transfer length limits");
        // Offsets below are page offsets (SBC-3); Rd* read 0 for fields past the page's end.
        var p = page[..(HeaderLength + body.Length)];
        uint alignment = Rd32(p, 32);
        return new BlockLimits
        {
            WriteSameNonZero = (p[4] & 0x01) != 0,
            MaximumCompareAndWriteLength = p[5],
            OptimalTransferLengthGranularity = (ushort)((p[6] << 8) | p[7]),
            MaximumTransferLength = Rd32(p, 8),
            OptimalTransferLength = Rd32(p, 12),
            MaximumPrefetchLength = Rd32(p, 16),
            MaximumUnmapLbaCount = Rd32(p, 20),
            MaximumUnmapBlockDescriptorCount = Rd32(p, 24),
            OptimalUnmapGranularity = Rd32(p, 28),
            UnmapGranularityAlignmentValid = (alignment & 0x8000_0000) != 0,
            UnmapGranularityAlignment = alignment & 0x7fff_ffff,
            MaximumWriteSameLength = p.Length >= 44 ? BinaryPrimitives.ReadUInt64BigEndian(p[36..]) : 0,
        };
    }

    private static uint Rd32(ReadOnlySpan<byte> p, int offset) =>
        p.Length >= offset + 4 ? BinaryPrimitives.ReadUInt32BigEndian(p[offset..]) : 0;

    /// <summary>Checks the header and returns the PAGE LENGTH bytes after it.</summary>
    private static ReadOnlySpan<byte> Body(ReadOnlySpan<byte> page, byte expectedCode, string name)
    {
        ScsiDataFormatException.ThrowIfShorter(name, page.Length, HeaderLength, "the page header");
        if (page[1] != expectedCode)
            throw new ScsiDataFormatException($"Expected the {name} (0x{expectedCode:X2}) but the data is VPD page 0x{page[1]:X2}.");
        int pageLength = BinaryPrimitives.ReadUInt16BigEndian(page[2..]);
        if (HeaderLength + pageLength > page.Length)
            throw new ScsiDataFormatException(
                $"The {name} says {pageLength} bytes follow the header but only {page.Length - HeaderLength} arrived; " +
                $"ask again with an allocation length of at least {HeaderLength + pageLength}.");
        return page.Slice(HeaderLength, pageLength);
    }
}
