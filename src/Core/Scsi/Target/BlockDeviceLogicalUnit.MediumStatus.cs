using System.Buffers.Binary;
using Iser.Core.Scsi.Target.Stores;

namespace Iser.Core.Scsi.Target;

// GET LBA STATUS (SBC-4 §5.8) and READ DEFECT DATA (SBC-4 §5.20, §5.21): what the medium says about its blocks.
public sealed partial class BlockDeviceLogicalUnit
{
    private const int LbaStatusHeaderLength = 8;
    private const int LbaStatusDescriptorLength = 16;
    /// <summary>Bounds the work one GET LBA STATUS does; the initiator asks again from where the answer ends.</summary>
    private const int MaxLbaStatusDescriptors = 64;
    private const byte ProvisioningMapped = 0x0;      // "mapped or unknown", what SBC-3 initiators expect
    private const byte ProvisioningDeallocated = 0x1;

    private ValueTask<ScsiCommandResult> GetLbaStatus(IScsiTask task, ReadOnlySpan<byte> cdb, CancellationToken cancellationToken)
    {
        if ((cdb[1] & 0xE0) != 0) return InvalidFieldDone(1, HighestBit(cdb[1] & 0xE0));
        // Byte 14 (REPORT TYPE in later SBC-4 revisions) is not evaluated: only "all LBAs" (0) is offered.
        if (cdb[14] != 0) return InvalidFieldDone(14, HighestBit(cdb[14]));
        ulong lba = BinaryPrimitives.ReadUInt64BigEndian(cdb[2..]);
        int allocation = (int)Math.Min(BinaryPrimitives.ReadUInt32BigEndian(cdb[10..]), int.MaxValue);
        if (lba >= (ulong)BlockCount) return Done(OutOfRange());
        if (_stopped) return Done(Check(NotReady));
        if (allocation == 0) return Done(ScsiCommandResult.Good());
        int room = Math.Max(1, (allocation - LbaStatusHeaderLength) / LbaStatusDescriptorLength);
        return LbaStatusAsync(task, (long)lba, Math.Min(room, MaxLbaStatusDescriptors), allocation, cancellationToken);
    }

    private async ValueTask<ScsiCommandResult> LbaStatusAsync(IScsiTask task, long lba, int maxDescriptors, int allocation, CancellationToken cancellationToken)
    {
        var data = new byte[LbaStatusHeaderLength + maxDescriptors * LbaStatusDescriptorLength];
        int count = 0;
        try
        {
            while (count < maxDescriptors && lba < BlockCount)
            {
                var (blocks, mapped) = await BlockExtentAsync(lba, cancellationToken).ConfigureAwait(false);
                // A NUMBER OF LOGICAL BLOCKS field holds 32 bits; the rest of a longer run goes in the next descriptor.
                blocks = Math.Min(blocks, uint.MaxValue);
                int p = LbaStatusHeaderLength + (count - 1) * LbaStatusDescriptorLength;
                byte status = mapped ? ProvisioningMapped : ProvisioningDeallocated;
                bool merge = count > 0 && data[p + 12] == status
                             && BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(p + 8)) + blocks <= uint.MaxValue;
                if (merge)
                {
                    BinaryPrimitives.WriteUInt32BigEndian(data.AsSpan(p + 8), (uint)(BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(p + 8)) + blocks));
                }
                else
                {
                    p = LbaStatusHeaderLength + count * LbaStatusDescriptorLength;
                    BinaryPrimitives.WriteUInt64BigEndian(data.AsSpan(p), (ulong)lba);
                    BinaryPrimitives.WriteUInt32BigEndian(data.AsSpan(p + 8), (uint)blocks);
                    data[p + 12] = status;
                    count++;
                }
                lba += blocks;
            }
        }
        catch (Exception e) when (IsMediumFailure(e))
        {
            return ReadFailure(e, lba << _blockShift);
        }
        int length = LbaStatusHeaderLength + count * LbaStatusDescriptorLength;
        BinaryPrimitives.WriteUInt32BigEndian(data, (uint)(length - 4)); // PARAMETER DATA LENGTH
        return SendData(task, data.AsSpan(0, length), allocation);
    }

    /// <summary>
    /// The run of blocks from <paramref name="lba"/> with one provisioning state. A block is deallocated only if all
    /// of it lies in a store hole (a hole may start or end inside a block when the store's grain is finer); without
    /// thin provisioning everything is mapped, as READ CAPACITY(16) (LBPME 0) and the provisioning VPD page say.
    /// </summary>
    private async ValueTask<(long Blocks, bool Mapped)> BlockExtentAsync(long lba, CancellationToken cancellationToken)
    {
        if (!_thin) return (BlockCount - lba, true);
        long offset = lba << _blockShift;
        StoreExtent extent = await _store.GetExtentAsync(offset, cancellationToken).ConfigureAwait(false);
        long end = Math.Min(extent.End, _store.Size);
        if (extent.Mapped)
        {
            long blocks = ((end - offset) + BlockSize - 1) >> _blockShift;
            return (Math.Clamp(blocks, 1, BlockCount - lba), true);
        }
        long holeBlocks = (end - offset) >> _blockShift;
        // A hole shorter than a block: that block still holds data somewhere, so it counts as mapped.
        return holeBlocks == 0 ? (1, true) : (Math.Min(holeBlocks, BlockCount - lba), false);
    }

    private ScsiCommandResult ReadDefectData(IScsiTask task, ReadOnlySpan<byte> cdb)
    {
        bool twelve = cdb.Length == 12;
        // READ DEFECT DATA(10): REQ_PLIST, REQ_GLIST and the format sit in byte 2, byte 1 is reserved; in (12) they
        // sit in byte 1 and bytes 2-5 are the ADDRESS DESCRIPTOR INDEX (any index of an empty list is past its end).
        int flagsByte = twelve ? 1 : 2;
        if (!twelve && cdb[1] != 0) return InvalidField(1, HighestBit(cdb[1]));
        byte flags = cdb[flagsByte];
        if ((flags & 0xE0) != 0) return InvalidField(flagsByte, HighestBit(flags & 0xE0));
        int format = flags & 0x07;
        if (format == 0x07) return InvalidField(flagsByte, 2); // reserved format
        if (!twelve && (cdb[3] | cdb[4] | cdb[5] | cdb[6]) != 0) return InvalidField(cdb[3] != 0 ? 3 : cdb[4] != 0 ? 4 : cdb[5] != 0 ? 5 : 6);
        if (twelve && cdb[10] != 0) return InvalidField(10, HighestBit(cdb[10]));
        int allocation = twelve
            ? (int)Math.Min(BinaryPrimitives.ReadUInt32BigEndian(cdb[6..]), int.MaxValue)
            : BinaryPrimitives.ReadUInt16BigEndian(cdb[7..]);
        // Our media have no defects: the lists asked for are returned, empty (header only), in the format asked for
        // (an empty list is valid in every format, so there is no need to fall back to another).
        Span<byte> header = stackalloc byte[8];
        header.Clear();
        header[1] = (byte)(flags & 0x1F); // PLISTV and GLISTV mirror REQ_PLIST and REQ_GLIST; DEFECT LIST FORMAT
        // (10): bytes 2-3 DEFECT LIST LENGTH. (12): bytes 2-3 GENERATION CODE (0: not supported), bytes 4-7 length.
        return SendData(task, header[..(twelve ? 8 : 4)], allocation);
    }
}
