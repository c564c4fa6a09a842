using System.Buffers;
using System.Buffers.Binary;
using Iser.Core.Scsi.Target.Stores;

namespace Iser.Core.Scsi.Target;

// WRITE SAME (10/16) and UNMAP (SBC-3 §5.44, §5.45, §5.28): fills and logical block provisioning.
public sealed partial class BlockDeviceLogicalUnit
{
    private const int FillChunk = 1 << 20;
    private const int UnmapHeaderLength = 8;
    private const int UnmapDescriptorLength = 16;

    private ValueTask<ScsiCommandResult> WriteSame(IScsiTask task, ReadOnlySpan<byte> cdb, CancellationToken cancellationToken)
    {
        bool sixteen = cdb.Length == 16;
        byte flags = cdb[1];
        if ((flags & 0xE0) != 0) return InvalidFieldDone(1, 7);           // WRPROTECT: no protection information
        bool anchor = (flags & 0x10) != 0;
        bool unmap = (flags & 0x08) != 0;
        if ((flags & 0x06) != 0) return InvalidFieldDone(1, (flags & 0x04) != 0 ? 2 : 1); // PBDATA / LBDATA
        bool noDataOut = sixteen && (flags & 0x01) != 0;                  // NDOB
        if (!sixteen && (flags & 0x01) != 0) return InvalidFieldDone(1, 0);
        if (anchor) return InvalidFieldDone(1, 4);                         // ANCHOR without UNMAP is invalid; with it we lack ANC_SUP
        if (unmap && !_thin) return InvalidFieldDone(1, 3);

        ulong lba = sixteen ? BinaryPrimitives.ReadUInt64BigEndian(cdb[2..]) : BinaryPrimitives.ReadUInt32BigEndian(cdb[2..]);
        ulong blocks = sixteen ? BinaryPrimitives.ReadUInt32BigEndian(cdb[10..]) : BinaryPrimitives.ReadUInt16BigEndian(cdb[7..]);
        int lengthField = sixteen ? 10 : 7;
        if (lba > (ulong)BlockCount) return Done(OutOfRange());
        // WSNZ is 0: a count of zero means "from LBA to the last block".
        if (blocks == 0) blocks = (ulong)BlockCount - lba;
        if (blocks > (ulong)_options.MaxWriteSameBlocks) return InvalidFieldDone(lengthField);
        if (!InRange(lba, blocks)) return Done(OutOfRange());
        if (_stopped) return Done(Check(NotReady));
        if (WriteProtected) return Done(Check(SenseCondition.WriteProtected));
        // One logical block of data, exactly; with NDOB none.
        if (!noDataOut && task.ExpectedDataOutLength != BlockSize) return InvalidFieldDone(lengthField);
        if (blocks == 0) return Done(ScsiCommandResult.Good(dataOutLength: noDataOut ? 0 : BlockSize));
        return WriteSameBlocksAsync(task, (long)lba, (long)blocks, unmap, noDataOut, cancellationToken);
    }

    private async ValueTask<ScsiCommandResult> WriteSameBlocksAsync(IScsiTask task, long lba, long blocks, bool unmap, bool noDataOut, CancellationToken cancellationToken)
    {
        ReadOnlyMemory<byte> block = ReadOnlyMemory<byte>.Empty;
        if (!noDataOut)
        {
            block = await task.ReceiveDataOutAsync(BlockSize, cancellationToken).ConfigureAwait(false);
            if (block.Length < BlockSize) return Check(SenseCondition.ParameterListLengthError);
            block = block[..BlockSize];
        }
        int dataOut = noDataOut ? 0 : BlockSize;
        long offset = lba << _blockShift;
        long length = blocks << _blockShift;
        using (await _ranges.AcquireAsync(lba, blocks, exclusive: false, cancellationToken).ConfigureAwait(false))
        {
            try
            {
                if (unmap)
                {
                    // UNMAP set: the range is deallocated and reads back as zeros (LBPRZ) whatever the block
                    // holds, as Linux LIO and tgt do and libiscsi's WriteSame10.UnmapUntilEnd expects.
                    await _store.DiscardAsync(offset, length, cancellationToken).ConfigureAwait(false);
                }
                else if (_store is IWriteSameStore repeating)
                {
                    // The store repeats the block itself (one request instead of the whole range written from here).
                    await repeating.WriteSameAsync(offset, length, block, cancellationToken).ConfigureAwait(false);
                    if (!_modes.WriteCacheEnabled) await _store.FlushAsync(cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    await FillAsync(offset, length, block, cancellationToken).ConfigureAwait(false);
                    if (!_modes.WriteCacheEnabled) await _store.FlushAsync(cancellationToken).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (IsMediumFailure(e))
            {
                return WriteFailure(e, offset);
            }
        }
        return ScsiCommandResult.Good(dataOutLength: dataOut);
    }

    /// <summary>Writes <paramref name="pattern"/> (one block, or zeros when empty) repeatedly over the range.</summary>
    private async ValueTask FillAsync(long offset, long length, ReadOnlyMemory<byte> pattern, CancellationToken cancellationToken)
    {
        int chunk = (int)Math.Min(length, FillChunk);
        var buffer = ArrayPool<byte>.Shared.Rent(chunk);
        try
        {
            var span = buffer.AsSpan(0, chunk);
            if (pattern.IsEmpty) span.Clear();
            else for (int b = 0; b < chunk; b += BlockSize) pattern.Span.CopyTo(span[b..]);
            while (length > 0)
            {
                int n = (int)Math.Min(length, chunk);
                await _store.WriteAsync(offset, buffer.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
                offset += n;
                length -= n;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private ValueTask<ScsiCommandResult> Unmap(IScsiTask task, ReadOnlySpan<byte> cdb, CancellationToken cancellationToken)
    {
        if (!_thin) return Done(CheckAt(SenseCondition.InvalidCommandOperationCode, 0));
        if ((cdb[1] & 0x01) != 0) return InvalidFieldDone(1, 0); // ANCHOR: no anchored state (ANC_SUP 0)
        int listLength = BinaryPrimitives.ReadUInt16BigEndian(cdb[7..]);
        if (listLength == 0) return Done(ScsiCommandResult.Good());
        if (listLength < UnmapHeaderLength) return Done(CheckAt(SenseCondition.ParameterListLengthError, 7));
        if (_stopped) return Done(Check(NotReady));
        if (WriteProtected) return Done(Check(SenseCondition.WriteProtected));
        int available = Math.Min(listLength, task.ExpectedDataOutLength);
        if (available < UnmapHeaderLength) return Done(CheckAt(SenseCondition.ParameterListLengthError, 7));
        return UnmapBlocksAsync(task, available, listLength, cancellationToken);
    }

    private async ValueTask<ScsiCommandResult> UnmapBlocksAsync(IScsiTask task, int available, int listLength, CancellationToken cancellationToken)
    {
        var list = await task.ReceiveDataOutAsync(available, cancellationToken).ConfigureAwait(false);
        if (list.Length < available) return Check(SenseCondition.ParameterListLengthError);
        list = list[..available];
        if (ValidateUnmapList(list.Span) is { } refused) return refused;

        int descriptorBytes = DescriptorBytes(list.Span);
        for (int p = UnmapHeaderLength; p < UnmapHeaderLength + descriptorBytes; p += UnmapDescriptorLength)
        {
            long lba = (long)BinaryPrimitives.ReadUInt64BigEndian(list.Span[p..]);
            long count = BinaryPrimitives.ReadUInt32BigEndian(list.Span[(p + 8)..]);
            if (count == 0) continue;
            using (await _ranges.AcquireAsync(lba, count, exclusive: false, cancellationToken).ConfigureAwait(false))
            {
                try
                {
                    await _store.DiscardAsync(lba << _blockShift, count << _blockShift, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (IsMediumFailure(e))
                {
                    return WriteFailure(e, lba << _blockShift);
                }
            }
        }
        return ScsiCommandResult.Good(dataOutLength: listLength);
    }

    private static int DescriptorBytes(ReadOnlySpan<byte> list)
    {
        // A trailing partial descriptor is ignored (SBC-3 §5.28.2); never read past what arrived.
        int declared = BinaryPrimitives.ReadUInt16BigEndian(list[2..]);
        int present = Math.Min(declared, list.Length - UnmapHeaderLength);
        return present / UnmapDescriptorLength * UnmapDescriptorLength;
    }

    /// <summary>Checks the whole UNMAP parameter list before anything is unmapped.</summary>
    private ScsiCommandResult? ValidateUnmapList(ReadOnlySpan<byte> list)
    {
        int descriptorBytes = DescriptorBytes(list);
        int descriptors = descriptorBytes / UnmapDescriptorLength;
        if ((uint)descriptors > _options.MaxUnmapDescriptors)
            return ScsiCommandResult.CheckCondition(SenseBuilder.ParameterField(SenseCondition.InvalidFieldInParameterList, 2));
        ulong total = 0;
        for (int i = 0; i < descriptors; i++)
        {
            int p = UnmapHeaderLength + i * UnmapDescriptorLength;
            ulong lba = BinaryPrimitives.ReadUInt64BigEndian(list[p..]);
            uint count = BinaryPrimitives.ReadUInt32BigEndian(list[(p + 8)..]);
            if (!InRange(lba, count)) return OutOfRange();
            total += count;
            if (total > _options.MaxUnmapBlocks)
                return ScsiCommandResult.CheckCondition(SenseBuilder.ParameterField(SenseCondition.InvalidFieldInParameterList, p + 8));
        }
        return null;
    }
}
