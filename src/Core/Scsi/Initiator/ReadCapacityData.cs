using System.Buffers.Binary;

namespace Iser.Core.Scsi.Initiator;

/// <summary>
/// READ CAPACITY(10) / (16) parameter data (SBC-3). The 16-byte form adds provisioning
/// (LBPME/LBPRZ), protection and physical-block fields; from the 10-byte form those read as zero.
/// </summary>
public readonly record struct ReadCapacityData
{
    public const int Length10 = 8;
    public const int Length16 = 32;

    /// <summary>The last addressable LBA (RETURNED LOGICAL BLOCK ADDRESS).</summary>
    public ulong LastLba { get; init; }
    /// <summary>Bytes per logical block.</summary>
    public uint BlockSize { get; init; }
    public ulong BlockCount => LastLba + 1;
    public ulong CapacityBytes => BlockCount * BlockSize;

    /// <summary>LBPME: the LU is thin provisioned and supports UNMAP / WRITE SAME with UNMAP.</summary>
    public bool ProvisioningEnabled { get; init; }
    /// <summary>LBPRZ: unmapped blocks read back as zeroes.</summary>
    public bool UnmappedReadsZero { get; init; }
    /// <summary>PROT_EN: protection information is enabled; <see cref="ProtectionType"/> says which type (1-3).</summary>
    public bool ProtectionEnabled { get; init; }
    public byte ProtectionType { get; init; }
    /// <summary>Logical blocks per physical block, as a power of two (e.g. 3 for 512 B blocks on 4 KiB sectors).</summary>
    public byte LogicalBlocksPerPhysicalBlockExponent { get; init; }
    public ushort LowestAlignedLba { get; init; }

    /// <summary>
    /// True when READ CAPACITY(10) answered 0xFFFFFFFF: the capacity does not fit and READ CAPACITY(16) must be used.
    /// </summary>
    public bool NeedsReadCapacity16 { get; init; }

    public static ReadCapacityData ParseReadCapacity10(ReadOnlySpan<byte> data)
    {
        ScsiDataFormatException.ThrowIfShorter("READ CAPACITY(10) data", data.Length, Length10, "the last LBA and block length");
        uint last = BinaryPrimitives.ReadUInt32BigEndian(data);
        return new ReadCapacityData
        {
            LastLba = last,
            BlockSize = BinaryPrimitives.ReadUInt32BigEndian(data[4..]),
            NeedsReadCapacity16 = last == uint.MaxValue,
        };
    }

    /// <summary>
    /// Needs the first 12 bytes (last LBA, block length); the flags of bytes 12-15 are read when present (a
    /// short allocation length may cut them off) and read as zero otherwise.
    /// </summary>
    public static ReadCapacityData ParseReadCapacity16(ReadOnlySpan<byte> data)
    {
        ScsiDataFormatException.ThrowIfShorter("READ CAPACITY(16) data", data.Length, 12, "the last LBA and block length");
        var result = new ReadCapacityData
        {
            LastLba = BinaryPrimitives.ReadUInt64BigEndian(data),
            BlockSize = BinaryPrimitives.ReadUInt32BigEndian(data[8..]),
        };
        if (data.Length < 16) return result;
        return result with
        {
            ProtectionEnabled = (data[12] & 0x01) != 0,
            ProtectionType = (byte)((data[12] & 0x01) != 0 ? ((data[12] >> 1) & 0x07) + 1 : 0),
            LogicalBlocksPerPhysicalBlockExponent = (byte)(data[13] & 0x0f),
            ProvisioningEnabled = (data[14] & 0x80) != 0,
            UnmappedReadsZero = (data[14] & 0x40) != 0,
            LowestAlignedLba = (ushort)(((data[14] & 0x3f) << 8) | data[15]),
        };
    }
}
