using System.Buffers;
using System.Buffers.Binary;

namespace Iser.Core.Scsi.Target;

// ORWRITE(16) and WRITE ATOMIC(16) (SBC-4 §5.13, §5.48): writes that other commands on the same blocks must see
// whole or not at all.
public sealed partial class BlockDeviceLogicalUnit
{
    private const int OrChunk = 256 * 1024;

    /// <summary>
    /// The flags byte of ORWRITE(16)/WRITE ATOMIC(16): protection (ORPROTECT/WRPROTECT), DPO and FUA as for WRITE;
    /// bits 2 and 0 reserved. Bit 1 is FUA_NV in ORWRITE (accepted like WRITE's) and reserved in WRITE ATOMIC.
    /// </summary>
    private ScsiCommandResult? CheckAtomicFlags(byte flags, byte reserved)
    {
        if (CheckProtectAndCacheBits(flags, hasFua: true) is { } bad) return bad;
        return (flags & reserved) != 0 ? InvalidField(1, HighestBit(flags & reserved)) : null;
    }

    private ValueTask<ScsiCommandResult> OrWrite(IScsiTask task, ReadOnlySpan<byte> cdb, CancellationToken cancellationToken)
    {
        byte flags = cdb[1];
        if (CheckAtomicFlags(flags, reserved: 0x05) is { } bad) return Done(bad);
        if ((cdb[14] & 0xE0) != 0) return InvalidFieldDone(14, HighestBit(cdb[14] & 0xE0));
        var (lba, blocks, lengthField) = DecodeLbaAndLength(cdb);
        if (CheckTransfer(lba, blocks, lengthField) is { } refused) return Done(refused);
        if (blocks == 0) return Done(ScsiCommandResult.Good());
        if (WriteProtected) return Done(Check(SenseCondition.WriteProtected));
        int bytes = (int)blocks << _blockShift;
        // Partial data would OR only some blocks of what must be one operation: all the data or nothing.
        if (task.ExpectedDataOutLength < bytes) return Done(Check(SenseCondition.InvalidFieldInInformationUnit) with { DataOutLength = bytes });
        bool durable = (flags & FuaBit) != 0 || !_modes.WriteCacheEnabled;
        return OrWriteBlocksAsync(task, (long)lba, bytes, durable, cancellationToken);
    }

    private async ValueTask<ScsiCommandResult> OrWriteBlocksAsync(IScsiTask task, long lba, int bytes, bool durable, CancellationToken cancellationToken)
    {
        var data = await task.ReceiveDataOutAsync(bytes, cancellationToken).ConfigureAwait(false);
        if (data.Length < bytes) return Check(SenseCondition.ParameterListLengthError);
        long offset = lba << _blockShift;
        var scratch = ArrayPool<byte>.Shared.Rent(Math.Min(bytes, OrChunk));
        try
        {
            // Exclusive like COMPARE AND WRITE: no write to these blocks lands between our read and our write.
            using (await _ranges.AcquireAsync(lba, bytes >> _blockShift, exclusive: true, cancellationToken).ConfigureAwait(false))
            {
                for (int done = 0; done < bytes;)
                {
                    int n = Math.Min(bytes - done, OrChunk);
                    var current = scratch.AsMemory(0, n);
                    try
                    {
                        await _store.ReadAsync(offset + done, current, cancellationToken).ConfigureAwait(false);
                    }
                    catch (Exception e) when (IsMediumFailure(e))
                    {
                        return ReadFailure(e, offset + done);
                    }
                    OrInto(current.Span, data.Span.Slice(done, n));
                    try
                    {
                        await _store.WriteAsync(offset + done, current, cancellationToken).ConfigureAwait(false);
                    }
                    catch (Exception e) when (IsMediumFailure(e))
                    {
                        return WriteFailure(e, offset + done);
                    }
                    done += n;
                }
                try
                {
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
            ArrayPool<byte>.Shared.Return(scratch);
        }
        return ScsiCommandResult.Good(dataOutLength: bytes);
    }

    private static void OrInto(Span<byte> target, ReadOnlySpan<byte> source)
    {
        // Whole vectors' worth at a time; blocks are multiples of 512 bytes, so the tail loop rarely runs.
        var t = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ulong>(target);
        var s = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ulong>(source);
        for (int i = 0; i < t.Length; i++) t[i] |= s[i];
        for (int i = t.Length * 8; i < target.Length; i++) target[i] |= source[i];
    }

    /// <summary>
    /// WRITE ATOMIC(16). Atomic with respect to every other command: the write holds an exclusive range lease, which
    /// writes, COMPARE AND WRITE, ORWRITE, WRITE SAME and UNMAP (all leased) wait for, and READs are held back by
    /// <see cref="AtomicReadGate"/>. What it does not give is atomicity across a power loss or crash: a file store
    /// writes through the kernel in pieces, so after a crash a write of more than one block may be partly on disk
    /// (VERIFY, which reads without a lease, is not held back either; it only compares).
    /// </summary>
    private ValueTask<ScsiCommandResult> WriteAtomic(IScsiTask task, ReadOnlySpan<byte> cdb, CancellationToken cancellationToken)
    {
        byte flags = cdb[1];
        if (CheckAtomicFlags(flags, reserved: 0x07) is { } bad) return Done(bad);
        if ((cdb[14] & 0xE0) != 0) return InvalidFieldDone(14, HighestBit(cdb[14] & 0xE0));
        // ATOMIC BOUNDARY: we report MAXIMUM ATOMIC BOUNDARY SIZE 0, so only 0 (no boundary) is valid.
        if (BinaryPrimitives.ReadUInt16BigEndian(cdb[10..]) != 0) return InvalidFieldDone(10);
        ulong lba = BinaryPrimitives.ReadUInt64BigEndian(cdb[2..]);
        ulong blocks = BinaryPrimitives.ReadUInt16BigEndian(cdb[12..]);
        if (CheckTransfer(lba, blocks, 12) is { } refused) return Done(refused);
        if (blocks > (ulong)_maxAtomicBlocks) return InvalidFieldDone(12);
        if (blocks == 0) return Done(ScsiCommandResult.Good());
        if (WriteProtected) return Done(Check(SenseCondition.WriteProtected));
        int bytes = (int)blocks << _blockShift;
        // All or nothing: a short offer cannot be written in part.
        if (task.ExpectedDataOutLength < bytes) return Done(Check(SenseCondition.InvalidFieldInInformationUnit) with { DataOutLength = bytes });
        bool durable = (flags & FuaBit) != 0 || !_modes.WriteCacheEnabled;
        return WriteAtomicBlocksAsync(task, (long)lba, bytes, durable, cancellationToken);
    }

    private async ValueTask<ScsiCommandResult> WriteAtomicBlocksAsync(IScsiTask task, long lba, int bytes, bool durable, CancellationToken cancellationToken)
    {
        var data = await task.ReceiveDataOutAsync(bytes, cancellationToken).ConfigureAwait(false);
        if (data.Length < bytes) return Check(SenseCondition.ParameterListLengthError);
        long offset = lba << _blockShift;
        await _atomicReads.EnterAtomicAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using (await _ranges.AcquireAsync(lba, bytes >> _blockShift, exclusive: true, cancellationToken).ConfigureAwait(false))
            {
                try
                {
                    await _store.WriteAsync(offset, data[..bytes], cancellationToken).ConfigureAwait(false);
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
            _atomicReads.ExitAtomic();
        }
        return ScsiCommandResult.Good(dataOutLength: bytes);
    }
}
