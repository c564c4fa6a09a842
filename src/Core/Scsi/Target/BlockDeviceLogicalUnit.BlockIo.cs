using System.Buffers;
using System.Buffers.Binary;
using Iser.Core.Scsi.Target.Stores;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;

namespace Iser.Core.Scsi.Target;

// READ, WRITE, VERIFY, WRITE AND VERIFY, COMPARE AND WRITE, PRE-FETCH, SYNCHRONIZE CACHE (SBC-4 §5).
public sealed partial class BlockDeviceLogicalUnit
{
    private const byte DpoBit = 0x10;
    private const byte FuaBit = 0x08;
    private const int CompareChunk = 256 * 1024;

    /// <summary>Rejects RDPROTECT/WRPROTECT/VRPROTECT (no protection information) and DPO/FUA when not offered.</summary>
    private ScsiCommandResult? CheckProtectAndCacheBits(byte flags, bool hasFua)
    {
        if ((flags & 0xE0) != 0) return InvalidField(1, 7);
        if (!_options.DpoFua)
        {
            if ((flags & DpoBit) != 0) return InvalidField(1, 4);
            if (hasFua && (flags & FuaBit) != 0) return InvalidField(1, 3);
        }
        return null;
    }

    private ScsiCommandResult? CheckTransfer(ulong lba, ulong blocks, int lengthField)
    {
        if (blocks > (ulong)_maxTransferBlocks) return InvalidField(lengthField);
        if (!InRange(lba, blocks)) return OutOfRange();
        if (_stopped) return Check(NotReady);
        return null;
    }

    /// <summary>
    /// The flags byte of a READ/WRITE CDB, checked. READ(6)/WRITE(6) have none: byte 1 holds the top of the LBA under
    /// three reserved bits, so there is no DPO/FUA/protection to evaluate (SBC-4 §5.15, §5.38).
    /// </summary>
    private ScsiCommandResult? CheckReadWriteFlags(ReadOnlySpan<byte> cdb, out byte flags)
    {
        if (cdb.Length == 6)
        {
            flags = 0;
            return (cdb[1] & 0xE0) != 0 ? InvalidField(1, HighestBit(cdb[1] & 0xE0)) : null;
        }
        flags = cdb[1];
        return CheckProtectAndCacheBits(flags, hasFua: true);
    }

    private static int HighestBit(int bits) => 31 - System.Numerics.BitOperations.LeadingZeroCount((uint)bits);

    private ValueTask<ScsiCommandResult> Read(IScsiTask task, ReadOnlySpan<byte> cdb, CancellationToken cancellationToken)
    {
        if (CheckReadWriteFlags(cdb, out _) is { } bad) return Done(bad);
        var (lba, blocks, lengthField) = DecodeLbaAndLength(cdb);
        if (CheckTransfer(lba, blocks, lengthField) is { } refused) return Done(refused);
        int bytes = (int)blocks << _blockShift;
        // Read only what the initiator will take (rounded up to whole blocks for direct I/O stores).
        int wanted = Math.Min(bytes, RoundUpToBlock(task.ExpectedDataInLength));
        if (wanted == 0) return Done(ScsiCommandResult.Good(dataInLength: bytes));
        var buffer = task.GetDataInBuffer(wanted)[..wanted];
        return ReadBlocksAsync((long)lba, buffer, bytes, cancellationToken);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<ScsiCommandResult> ReadBlocksAsync(long lba, Memory<byte> buffer, int commandBytes, CancellationToken cancellationToken)
    {
        long offset = lba << _blockShift;
        // Unlocked unless a WRITE ATOMIC is about: then a shared lease, so the read sees all of it or none.
        bool unlocked = _atomicReads.TryEnterUnlocked();
        var lease = unlocked ? default
            : await _ranges.AcquireAsync(lba, buffer.Length >> _blockShift, exclusive: false, cancellationToken).ConfigureAwait(false);
        try
        {
            await _store.ReadAsync(offset, buffer, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (IsMediumFailure(e))
        {
            return ReadFailure(e, offset);
        }
        finally
        {
            if (unlocked) _atomicReads.ExitUnlocked();
            else lease.Dispose();
        }
        return ScsiCommandResult.Good(dataInLength: commandBytes);
    }

    private ValueTask<ScsiCommandResult> Write(IScsiTask task, ReadOnlySpan<byte> cdb, CancellationToken cancellationToken)
    {
        if (CheckReadWriteFlags(cdb, out byte flags) is { } bad) return Done(bad);
        var (lba, blocks, lengthField) = DecodeLbaAndLength(cdb);
        if (CheckTransfer(lba, blocks, lengthField) is { } refused) return Done(refused);
        if (blocks > 0 && WriteProtected) return Done(Check(SenseCondition.WriteProtected));
        int bytes = (int)blocks << _blockShift;
        // With less data offered than the CDB asks for, write the whole blocks that did come (residual overflow);
        // an offer ending inside a block cannot be written as asked, so nothing is (FCP-4 / SAM-5 overflow rules).
        if (ShortOfWholeBlocks(task, bytes) is { } partial) return Done(partial);
        int available = RoundDownToBlock(Math.Min(bytes, task.ExpectedDataOutLength));
        if (available == 0) return Done(ScsiCommandResult.Good(dataOutLength: bytes));
        bool durable = (flags & FuaBit) != 0 || !_modes.WriteCacheEnabled;
        return WriteBlocksAsync(task, (long)lba, available, bytes, durable, cancellationToken);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<ScsiCommandResult> WriteBlocksAsync(IScsiTask task, long lba, int available, int commandBytes, bool durable, CancellationToken cancellationToken)
    {
        var data = await task.ReceiveDataOutAsync(available, cancellationToken).ConfigureAwait(false);
        if (data.Length < available) return Check(SenseCondition.ParameterListLengthError);
        long offset = lba << _blockShift;
        using (await _ranges.AcquireAsync(lba, available >> _blockShift, exclusive: false, cancellationToken).ConfigureAwait(false))
        {
            try
            {
                await _store.WriteAsync(offset, data[..available], cancellationToken).ConfigureAwait(false);
                if (durable) await _store.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (IsMediumFailure(e))
            {
                return WriteFailure(e, offset);
            }
        }
        return ScsiCommandResult.Good(dataOutLength: commandBytes);
    }

    private ValueTask<ScsiCommandResult> Verify(IScsiTask task, ReadOnlySpan<byte> cdb, CancellationToken cancellationToken)
    {
        byte flags = cdb[1];
        if (CheckProtectAndCacheBits(flags, hasFua: false) is { } bad) return Done(bad);
        if ((flags & 0x09) != 0) return InvalidFieldDone(1, (flags & 0x08) != 0 ? 3 : 0);
        int byteCheck = (flags >> 1) & 0x03;
        if (byteCheck == 2) return InvalidFieldDone(1, 2);
        var (lba, blocks, lengthField) = DecodeLbaAndLength(cdb);
        if (CheckTransfer(lba, blocks, lengthField) is { } refused) return Done(refused);
        // BYTCHK 00b: verify the medium only — our media have no unreadable blocks, so there is nothing to report.
        if (byteCheck == 0 || blocks == 0) return Done(ScsiCommandResult.Good());
        int expected = byteCheck == 1 ? (int)blocks << _blockShift : BlockSize;
        int available = RoundDownToBlock(Math.Min(expected, task.ExpectedDataOutLength));
        if (available == 0) return Done(ScsiCommandResult.Good(dataOutLength: expected));
        long compareBytes = byteCheck == 1 ? available : (long)blocks << _blockShift;
        return VerifyBlocksAsync(task, (long)lba << _blockShift, available, compareBytes, repeatFirstBlock: byteCheck == 3, expected, cancellationToken);
    }

    private async ValueTask<ScsiCommandResult> VerifyBlocksAsync(IScsiTask task, long offset, int available, long compareBytes,
        bool repeatFirstBlock, int commandBytes, CancellationToken cancellationToken)
    {
        var data = await task.ReceiveDataOutAsync(available, cancellationToken).ConfigureAwait(false);
        if (data.Length < available) return Check(SenseCondition.ParameterListLengthError);
        long mismatch;
        try
        {
            mismatch = await FindMismatchAsync(offset, data[..available], compareBytes, repeatFirstBlock, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (IsMediumFailure(e))
        {
            return ReadFailure(e, offset);
        }
        return mismatch < 0
            ? ScsiCommandResult.Good(dataOutLength: commandBytes)
            : Miscompare(mismatch, commandBytes);
    }

    private ValueTask<ScsiCommandResult> WriteAndVerify(IScsiTask task, ReadOnlySpan<byte> cdb, CancellationToken cancellationToken)
    {
        byte flags = cdb[1];
        if (CheckProtectAndCacheBits(flags, hasFua: false) is { } bad) return Done(bad);
        if ((flags & 0x09) != 0) return InvalidFieldDone(1, (flags & 0x08) != 0 ? 3 : 0);
        int byteCheck = (flags >> 1) & 0x03;
        if (byteCheck >= 2) return InvalidFieldDone(1, 2);
        var (lba, blocks, lengthField) = DecodeLbaAndLength(cdb);
        if (CheckTransfer(lba, blocks, lengthField) is { } refused) return Done(refused);
        if (blocks > 0 && WriteProtected) return Done(Check(SenseCondition.WriteProtected));
        int bytes = (int)blocks << _blockShift;
        if (ShortOfWholeBlocks(task, bytes) is { } partial) return Done(partial);
        int available = RoundDownToBlock(Math.Min(bytes, task.ExpectedDataOutLength));
        if (available == 0) return Done(ScsiCommandResult.Good(dataOutLength: bytes));
        return WriteAndVerifyBlocksAsync(task, (long)lba, available, bytes, byteCheck == 1, cancellationToken);
    }

    private async ValueTask<ScsiCommandResult> WriteAndVerifyBlocksAsync(IScsiTask task, long lba, int available, int commandBytes,
        bool compare, CancellationToken cancellationToken)
    {
        var data = await task.ReceiveDataOutAsync(available, cancellationToken).ConfigureAwait(false);
        if (data.Length < available) return Check(SenseCondition.ParameterListLengthError);
        data = data[..available];
        long offset = lba << _blockShift;
        using (await _ranges.AcquireAsync(lba, available >> _blockShift, exclusive: false, cancellationToken).ConfigureAwait(false))
        {
            try
            {
                await _store.WriteAsync(offset, data, cancellationToken).ConfigureAwait(false);
                // The verify is against the medium: make the data durable first.
                await _store.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (IsMediumFailure(e))
            {
                return WriteFailure(e, offset);
            }
            if (compare)
            {
                long mismatch;
                try
                {
                    mismatch = await FindMismatchAsync(offset, data, data.Length, false, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (IsMediumFailure(e))
                {
                    return ReadFailure(e, offset);
                }
                if (mismatch >= 0) return Miscompare(mismatch, commandBytes);
            }
        }
        return ScsiCommandResult.Good(dataOutLength: commandBytes);
    }

    private ValueTask<ScsiCommandResult> CompareAndWrite(IScsiTask task, ReadOnlySpan<byte> cdb, CancellationToken cancellationToken)
    {
        byte flags = cdb[1];
        if (CheckProtectAndCacheBits(flags, hasFua: true) is { } bad) return Done(bad);
        ulong lba = BinaryPrimitives.ReadUInt64BigEndian(cdb[2..]);
        int blocks = cdb[13];
        if (blocks > _options.MaxCompareAndWriteBlocks) return InvalidFieldDone(13);
        if (!InRange(lba, (ulong)blocks)) return Done(OutOfRange());
        int bytes = 2 * (blocks << _blockShift);
        // The Data-Out buffer is the verify data followed by the write data; any other length cannot be split
        // (this also catches a block count that does not match the data, e.g. 256 truncated to 0 in the CDB).
        if (task.ExpectedDataOutLength != bytes) return InvalidFieldDone(13);
        if (_stopped) return Done(Check(NotReady));
        if (blocks == 0) return Done(ScsiCommandResult.Good());
        if (WriteProtected) return Done(Check(SenseCondition.WriteProtected));
        bool durable = (flags & FuaBit) != 0 || !_modes.WriteCacheEnabled;
        return CompareAndWriteBlocksAsync(task, (long)lba, blocks, durable, cancellationToken);
    }

    private async ValueTask<ScsiCommandResult> CompareAndWriteBlocksAsync(IScsiTask task, long lba, int blocks, bool durable, CancellationToken cancellationToken)
    {
        int half = blocks << _blockShift;
        var data = await task.ReceiveDataOutAsync(2 * half, cancellationToken).ConfigureAwait(false);
        if (data.Length < 2 * half) return Check(SenseCondition.ParameterListLengthError);
        long offset = lba << _blockShift;
        var current = ArrayPool<byte>.Shared.Rent(half);
        try
        {
            // Exclusive over the range: no other write to these blocks can land between the compare and the write.
            using (await _ranges.AcquireAsync(lba, blocks, exclusive: true, cancellationToken).ConfigureAwait(false))
            {
                if (_store is ICompareAndWriteStore atomic && atomic.CanCompareAndWrite(offset, half))
                    return await StoreCompareAndWriteAsync(atomic, offset, data[..half], data.Slice(half, half), durable, cancellationToken).ConfigureAwait(false);
                try
                {
                    await _store.ReadAsync(offset, current.AsMemory(0, half), cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (IsMediumFailure(e))
                {
                    return ReadFailure(e, offset);
                }
                int same = current.AsSpan(0, half).CommonPrefixLength(data.Span[..half]);
                if (same < half) return Miscompare(same, 2 * half);
                try
                {
                    await _store.WriteAsync(offset, data.Slice(half, half), cancellationToken).ConfigureAwait(false);
                    if (durable) await _store.FlushAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (IsMediumFailure(e))
                {
                    return WriteFailure(e, offset);
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(current);
        }
        return ScsiCommandResult.Good(dataOutLength: 2 * half);
    }

    /// <summary>COMPARE AND WRITE done by the store in one step, atomic also against other clients of a shared medium.</summary>
    private async ValueTask<ScsiCommandResult> StoreCompareAndWriteAsync(ICompareAndWriteStore store, long offset, ReadOnlyMemory<byte> compare, ReadOnlyMemory<byte> write, bool durable, CancellationToken cancellationToken)
    {
        try
        {
            long mismatch = await store.CompareAndWriteAsync(offset, compare, write, cancellationToken).ConfigureAwait(false);
            if (mismatch >= 0) return Miscompare(mismatch, 2 * compare.Length);
            if (durable) await _store.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (IsMediumFailure(e))
        {
            return WriteFailure(e, offset);
        }
        return ScsiCommandResult.Good(dataOutLength: 2 * compare.Length);
    }

    private ValueTask<ScsiCommandResult> PreFetch(ReadOnlySpan<byte> cdb)
    {
        bool sixteen = cdb.Length == 16;
        // IMMED (bit 1) is the only flag; bit 0 was RELADR in PRE-FETCH(10) and is reserved now.
        if ((cdb[1] & 0xFD) != 0) return InvalidFieldDone(1, HighestBit(cdb[1] & 0xFD));
        int groupByte = sixteen ? 14 : 6;
        if ((cdb[groupByte] & 0xE0) != 0) return InvalidFieldDone(groupByte, HighestBit(cdb[groupByte] & 0xE0));
        ulong lba = sixteen ? BinaryPrimitives.ReadUInt64BigEndian(cdb[2..]) : BinaryPrimitives.ReadUInt32BigEndian(cdb[2..]);
        ulong blocks = sixteen ? BinaryPrimitives.ReadUInt32BigEndian(cdb[10..]) : BinaryPrimitives.ReadUInt16BigEndian(cdb[7..]);
        // No data moves, so the transfer limit does not apply; a length of zero means "to the last block".
        if (lba > (ulong)BlockCount) return Done(OutOfRange());
        if (blocks == 0) blocks = (ulong)BlockCount - lba;
        if (!InRange(lba, blocks)) return Done(OutOfRange());
        if (_stopped) return Done(Check(NotReady));
        // SBC-4 §5.10/§5.11: CONDITION MET means the blocks were (IMMED 0) or will be (IMMED 1) all in the cache;
        // when the cache cannot hold them all, the status is GOOD. Our stores have no cache of their own to fill
        // (capacity zero: RAM is the medium itself, files rely on the kernel's page cache, which we do not pin), so
        // no request ever fits and GOOD is the answer whatever IMMED says.
        return Done(ScsiCommandResult.Good());
    }

    private ValueTask<ScsiCommandResult> SynchronizeCache(ReadOnlySpan<byte> cdb, CancellationToken cancellationToken)
    {
        // IMMED and SYNC_NV are accepted; the flush is done before status either way.
        if ((cdb[1] & 0xF9) != 0) return InvalidFieldDone(1);
        ulong lba, blocks;
        if (cdb.Length == 10) { lba = BinaryPrimitives.ReadUInt32BigEndian(cdb[2..]); blocks = BinaryPrimitives.ReadUInt16BigEndian(cdb[7..]); }
        else { lba = BinaryPrimitives.ReadUInt64BigEndian(cdb[2..]); blocks = BinaryPrimitives.ReadUInt32BigEndian(cdb[10..]); }
        if (!InRange(lba, blocks)) return Done(OutOfRange());
        if (_stopped) return Done(Check(NotReady));
        return FlushForCommandAsync(cancellationToken);
    }

    private async ValueTask<ScsiCommandResult> FlushForCommandAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _store.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (IsMediumFailure(e))
        {
            return WriteFailure(e, 0);
        }
        return ScsiCommandResult.Good();
    }

    /// <summary>
    /// Compares <paramref name="length"/> bytes of the medium at <paramref name="offset"/> with
    /// <paramref name="expected"/> (or with its first block repeated) and returns the offset of the first
    /// differing byte, or -1.
    /// </summary>
    private async ValueTask<long> FindMismatchAsync(long offset, ReadOnlyMemory<byte> expected, long length, bool repeatFirstBlock, CancellationToken cancellationToken)
    {
        int chunk = (int)Math.Min(length, CompareChunk);
        var buffer = ArrayPool<byte>.Shared.Rent(chunk);
        try
        {
            long done = 0;
            while (done < length)
            {
                int n = (int)Math.Min(chunk, length - done);
                await _store.ReadAsync(offset + done, buffer.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
                var actual = buffer.AsSpan(0, n);
                if (repeatFirstBlock)
                {
                    var pattern = expected.Span[..BlockSize];
                    for (int b = 0; b < n; b += BlockSize)
                    {
                        int same = actual.Slice(b, BlockSize).CommonPrefixLength(pattern);
                        if (same < BlockSize) return done + b + same;
                    }
                }
                else
                {
                    int same = actual.CommonPrefixLength(expected.Span.Slice((int)done, n));
                    if (same < n) return done + same;
                }
                done += n;
            }
            return -1;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>MISCOMPARE / MISCOMPARE DURING VERIFY OPERATION, INFORMATION = offset of the first differing byte (SBC-3 §5.2, §5.22).</summary>
    private static ScsiCommandResult Miscompare(long offset, int dataOutLength) =>
        ScsiCommandResult.CheckCondition(SenseBuilder.WithInformation(SenseCondition.MiscompareDuringVerify, (uint)offset), dataOutLength: dataOutLength);

    private ScsiCommandResult ReadFailure(Exception e, long offset)
    {
        _logger.LogWarning(e, "Reading {Store} at byte {Offset} failed; reporting a medium error.", _store.Describe(), offset);
        return Check(SenseCondition.UnrecoveredReadError);
    }

    private ScsiCommandResult WriteFailure(Exception e, long offset)
    {
        _logger.LogWarning(e, "Writing {Store} at byte {Offset} failed; reporting a medium error.", _store.Describe(), offset);
        return Check(SenseCondition.WriteError);
    }

    /// <summary>
    /// CHECK CONDITION INVALID FIELD IN INFORMATION UNIT, writing nothing, when the initiator offers less data than the
    /// command needs and the offer ends inside a block; the overflow residual is still reported.
    /// </summary>
    private ScsiCommandResult? ShortOfWholeBlocks(IScsiTask task, int commandBytes)
    {
        int offered = task.ExpectedDataOutLength;
        if (offered >= commandBytes || RoundDownToBlock(offered) == offered) return null;
        return Check(SenseCondition.InvalidFieldInInformationUnit) with { DataOutLength = commandBytes };
    }

    private static ValueTask<ScsiCommandResult> InvalidFieldDone(int cdbByte, int? bit = null) => Done(InvalidField(cdbByte, bit));

    private int RoundUpToBlock(int bytes) => (int)Math.Min(((long)bytes + BlockSize - 1) >> _blockShift << _blockShift, int.MaxValue & ~(BlockSize - 1));

    private int RoundDownToBlock(int bytes) => bytes >> _blockShift << _blockShift;
}
