using System.Buffers.Binary;

namespace Iser.Core.Scsi.Initiator;

/// <summary>Writes the UNMAP parameter list (SBC-3): an 8-byte header, then 16 bytes per block descriptor.</summary>
public static class UnmapParameterList
{
    public const int HeaderLength = 8;
    public const int DescriptorLength = 16;

    /// <summary>The list's length in bytes for <paramref name="descriptorCount"/> descriptors (the UNMAP CDB's PARAMETER LIST LENGTH).</summary>
    public static int GetLength(int descriptorCount)
    {
        // UNMAP DATA LENGTH is 16 bits and counts bytes after itself, so at most 4095 descriptors fit.
        if ((uint)descriptorCount > (ushort.MaxValue - HeaderLength + 2) / DescriptorLength)
            throw new ArgumentOutOfRangeException(nameof(descriptorCount), descriptorCount,
                "An UNMAP parameter list holds at most 4095 block descriptors.");
        return HeaderLength + descriptorCount * DescriptorLength;
    }

    /// <summary>Writes header and descriptors into <paramref name="destination"/>; returns the bytes written.</summary>
    public static int Write(Span<byte> destination, ReadOnlySpan<UnmapBlockDescriptor> descriptors)
    {
        int length = GetLength(descriptors.Length);
        if (destination.Length < length)
            throw new ArgumentException(
                $"The destination holds {destination.Length} bytes; an UNMAP parameter list with {descriptors.Length} descriptors needs {length}.",
                nameof(destination));
        BinaryPrimitives.WriteUInt16BigEndian(destination, (ushort)(length - 2));            // UNMAP DATA LENGTH (n - 1)
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)(length - HeaderLength)); // BLOCK DESCRIPTOR DATA LENGTH (n - 7)
        destination.Slice(4, 4).Clear();
        for (int i = 0; i < descriptors.Length; i++)
        {
            var d = destination.Slice(HeaderLength + i * DescriptorLength, DescriptorLength);
            BinaryPrimitives.WriteUInt64BigEndian(d, descriptors[i].Lba);
            BinaryPrimitives.WriteUInt32BigEndian(d[8..], descriptors[i].BlockCount);
            d.Slice(12, 4).Clear();
        }
        return length;
    }
}
