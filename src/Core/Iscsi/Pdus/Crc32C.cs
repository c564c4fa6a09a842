using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.InteropServices;

namespace Iser.Core.Iscsi.Pdus;

/// <summary>
/// CRC32C (Castagnoli) as iSCSI digests use it (RFC 7143 §13.1, test vectors in RFC 3720 Appendix B.4):
/// seed 0xFFFFFFFF, final complement, transmitted least significant byte first.
/// BitOperations.Crc32C is the raw hardware step, so the seed/complement are ours.
/// </summary>
public static class Crc32C
{
    public const uint Seed = 0xffffffff;

    /// <summary>Continues a running (uncomplemented) CRC over <paramref name="data"/>.</summary>
    public static uint Append(uint crc, ReadOnlySpan<byte> data)
    {
        var longs = MemoryMarshal.Cast<byte, ulong>(data);
        foreach (var v in longs) crc = BitOperations.Crc32C(crc, v);
        for (int i = longs.Length * 8; i < data.Length; i++) crc = BitOperations.Crc32C(crc, data[i]);
        return crc;
    }

    /// <summary>The digest of one contiguous buffer.</summary>
    public static uint Compute(ReadOnlySpan<byte> data) => ~Append(Seed, data);

    public static void Write(Span<byte> destination, uint digest) => BinaryPrimitives.WriteUInt32LittleEndian(destination, digest);
    public static uint Read(ReadOnlySpan<byte> source) => BinaryPrimitives.ReadUInt32LittleEndian(source);
}
