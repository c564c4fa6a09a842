using System.Buffers;
using System.Buffers.Binary;
using Iser.Core.Scsi.Target.Copy;
using Iser.Core.Scsi.Target.Reservations;
using Microsoft.Extensions.Logging;

namespace Iser.Core.Scsi.Target;

// EXTENDED COPY (LID1) and RECEIVE COPY RESULTS (SPC-4 §6.4, §6.18): the copy manager of this logical unit.
public sealed partial class BlockDeviceLogicalUnit
{
    private const int CopyChunk = 1 << 20;
    private readonly CopyResults _copyResults = new();

    private static readonly SenseCondition CopyAbortedNoSense = new(0x0A, 0x00, 0x00);
    private static readonly SenseCondition UnreachableCopyTarget = new(0x0A, 0x08, 0x04);
    private static readonly SenseCondition CopyTargetDeviceNotReachable = new(0x0A, 0x0D, 0x02);

    /// <summary>The limits RECEIVE COPY RESULTS (OPERATING PARAMETERS) reports and EXTENDED COPY enforces.</summary>
    public CopyLimits CopyLimits => _options.CopyLimits;

    /// <summary>
    /// True when <paramref name="designatorType"/>/<paramref name="designator"/> (with its code set and association)
    /// names this logical unit in VPD page 83h: how an EXTENDED COPY's identification descriptor finds it.
    /// </summary>
    public bool HasDesignator(byte codeSet, byte association, byte designatorType, ReadOnlySpan<byte> designator)
    {
        var page = _inquiry.Vpd(InquiryPages.DeviceIdentificationCode)!;
        for (int p = 4; p + 4 <= page.Length;)
        {
            int length = page[p + 3];
            if ((page[p] & 0x0F) == codeSet && ((page[p + 1] >> 4) & 0x03) == association && (page[p + 1] & 0x0F) == designatorType
                && page.AsSpan(p + 4, length).SequenceEqual(designator))
                return true;
            p += 4 + length;
        }
        return false;
    }

    /// <summary>EXTENDED COPY: service action 00h (LID1) only; the CDB is checked before the parameter list comes.</summary>
    private ValueTask<ScsiCommandResult> ExtendedCopy(IScsiTask task, ReadOnlySpan<byte> cdb, CancellationToken cancellationToken)
    {
        if ((cdb[1] & 0x1F) != 0) return Done(InvalidField(1, 4)); // LID4 (service action 01h) is not offered
        int listLength = (int)Math.Min(BinaryPrimitives.ReadUInt32BigEndian(cdb[10..]), int.MaxValue);
        // A zero-length parameter list is not an error: nothing to copy (SPC-4 §6.4.1).
        if (listLength == 0) return Done(ScsiCommandResult.Good());
        if (listLength > ExtendedCopyRequest.HeaderLength + CopyLimits.MaxDescriptorListLength + CopyLimits.MaxInlineDataLength)
            return Done(ScsiCommandResult.CheckCondition(SenseBuilder.Fixed(SenseCondition.ParameterListLengthError), dataOutLength: listLength));
        return ExtendedCopyAsync(task, listLength, cancellationToken);
    }

    private async ValueTask<ScsiCommandResult> ExtendedCopyAsync(IScsiTask task, int listLength, CancellationToken cancellationToken)
    {
        int available = Math.Min(listLength, task.ExpectedDataOutLength);
        var list = available == 0 ? ReadOnlyMemory<byte>.Empty : await task.ReceiveDataOutAsync(available, cancellationToken).ConfigureAwait(false);
        if (list.Length > available) list = list[..available];
        var request = ExtendedCopyRequest.TryParse(list.Span, CopyLimits, out var refusal);
        if (request is null) return refusal.ToResult(listLength);

        var nexus = task.Nexus;
        // Copy targets are found among this target's logical units only: the ones the initiator reached here already
        // (LIO's CVE-2020-28374 let a copy reach any LUN of the host by its designator).
        var units = new BlockDeviceLogicalUnit?[request.Cscds.Count];
        for (int i = 0; i < units.Length; i++) units[i] = FindCopyTarget(task, request.Cscds[i]);

        long transferred = 0;
        int done = 0;
        ScsiCommandResult? failure = null;
        foreach (var segment in request.Segments)
        {
            failure = await CopySegmentAsync(nexus, request, segment, done, units, cancellationToken).ConfigureAwait(false);
            if (failure is not null) break;
            transferred += segment.Type == ExtendedCopyRequest.BlockToBlock ? segment.Blocks * units[segment.Source]!.BlockSize : segment.Bytes;
            done++;
        }
        if (request.HoldsResults) _copyResults.Record(nexus, request.ListId, new CopyResults.Status(failure is not null, done, transferred));
        return failure is { } f ? f with { DataOutLength = listLength } : ScsiCommandResult.Good(dataOutLength: listLength);
    }

    private BlockDeviceLogicalUnit? FindCopyTarget(IScsiTask task, in ExtendedCopyRequest.Cscd cscd)
    {
        if (HasDesignator(cscd.CodeSet, cscd.Association, cscd.DesignatorType, cscd.Designator)) return this;
        foreach (var unit in task.LogicalUnitsOfTarget)
            if (unit is BlockDeviceLogicalUnit block && block.HasDesignator(cscd.CodeSet, cscd.Association, cscd.DesignatorType, cscd.Designator))
                return block;
        return null;
    }

    /// <summary>One segment, in chunks; null when it was copied whole, else the CHECK CONDITION that ends the command.</summary>
    private async ValueTask<ScsiCommandResult?> CopySegmentAsync(ItNexus nexus, ExtendedCopyRequest request, ExtendedCopyRequest.Segment segment,
        int index, BlockDeviceLogicalUnit?[] units, CancellationToken cancellationToken)
    {
        if (segment.Source >= units.Length || segment.Destination >= units.Length) return CopyAborted(UnreachableCopyTarget, index);
        if (units[segment.Source] is not { } source || units[segment.Destination] is not { } destination)
            return CopyAborted(CopyTargetDeviceNotReachable, index);
        var from = request.Cscds[segment.Source];
        var to = request.Cscds[segment.Destination];
        if (from.BlockLength != 0 && from.BlockLength != source.BlockSize || to.BlockLength != 0 && to.BlockLength != destination.BlockSize)
            return CopyAborted(CopyAbortedNoSense, index);
        if (source._reservations.CheckAccess(nexus, ScsiCommandClass.Read) == PrAccess.Conflict
            || destination._reservations.CheckAccess(nexus, ScsiCommandClass.Write) == PrAccess.Conflict)
            return new ScsiCommandResult { Status = ScsiStatus.ReservationConflict };
        if (destination.WriteProtected) return Check(SenseCondition.WriteProtected);

        long bytes = segment.Type == ExtendedCopyRequest.BlockToBlock ? segment.Blocks * source.BlockSize : segment.Bytes;
        if (bytes > CopyLimits.MaxSegmentLength) return CopyAborted(CopyAbortedNoSense, index);
        if (segment.Type == ExtendedCopyRequest.BlockToBlock && bytes % destination.BlockSize != 0) return CopyAborted(CopyAbortedNoSense, index);
        long sourceStart = (long)Math.Min(segment.SourceLba, (ulong)long.MaxValue / 2) * source.BlockSize + segment.SourceByteOffset;
        long destinationStart = (long)Math.Min(segment.DestinationLba, (ulong)long.MaxValue / 2) * destination.BlockSize + segment.DestinationByteOffset;
        if (segment.SourceLba > (ulong)source.BlockCount || sourceStart + bytes > source.BlockCount * source.BlockSize
            || segment.DestinationLba > (ulong)destination.BlockCount || destinationStart + bytes > destination.BlockCount * destination.BlockSize)
            return CopyAborted(CopyAbortedNoSense, index); // beyond the end of a copy target's medium
        if (bytes == 0) return null;

        byte[] sourceBuffer = ArrayPool<byte>.Shared.Rent(CopyChunk + 2 * source.BlockSize);
        byte[] destinationBuffer = ArrayPool<byte>.Shared.Rent(CopyChunk + 2 * destination.BlockSize);
        try
        {
            for (long copied = 0; copied < bytes;)
            {
                int n = (int)Math.Min(CopyChunk, bytes - copied);
                // Whole blocks on both sides: what a direct-I/O store takes, and what a partial destination block needs.
                long s0 = (sourceStart + copied) / source.BlockSize * source.BlockSize;
                int sLength = (int)(RoundUp(sourceStart + copied + n, source.BlockSize) - s0);
                long d0 = (destinationStart + copied) / destination.BlockSize * destination.BlockSize;
                int dLength = (int)(RoundUp(destinationStart + copied + n, destination.BlockSize) - d0);
                bool partial = d0 != destinationStart + copied || dLength != n;
                long dLba = d0 / destination.BlockSize;
                // A partial destination block is read, patched and written back: no other write may land in between.
                using (await destination._ranges.AcquireAsync(dLba, dLength / destination.BlockSize, exclusive: partial, cancellationToken).ConfigureAwait(false))
                {
                    try
                    {
                        await source._store.ReadAsync(s0, sourceBuffer.AsMemory(0, sLength), cancellationToken).ConfigureAwait(false);
                        if (partial) await destination._store.ReadAsync(d0, destinationBuffer.AsMemory(0, dLength), cancellationToken).ConfigureAwait(false);
                        sourceBuffer.AsSpan((int)(sourceStart + copied - s0), n).CopyTo(destinationBuffer.AsSpan((int)(destinationStart + copied - d0)));
                        await destination._store.WriteAsync(d0, destinationBuffer.AsMemory(0, dLength), cancellationToken).ConfigureAwait(false);
                    }
                    catch (Exception e) when (IsMediumFailure(e))
                    {
                        _logger.LogError(e, "EXTENDED COPY segment {Index} failed on the medium.", index);
                        return CopyAborted(CopyAbortedNoSense, index);
                    }
                }
                copied += n;
            }
            if (!destination._modes.WriteCacheEnabled) await destination._store.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(sourceBuffer);
            ArrayPool<byte>.Shared.Return(destinationBuffer);
        }
        return null;
    }

    private static long RoundUp(long value, int unit) => (value + unit - 1) / unit * unit;

    /// <summary>COPY ABORTED, the segment that failed in COMMAND-SPECIFIC INFORMATION (SPC-4 §6.4.5).</summary>
    private static ScsiCommandResult CopyAborted(SenseCondition condition, int segment)
    {
        var sense = SenseBuilder.Fixed(condition);
        BinaryPrimitives.WriteUInt32BigEndian(sense.AsSpan(8, 4), (uint)segment);
        return ScsiCommandResult.CheckCondition(sense);
    }

    /// <summary>RECEIVE COPY RESULTS: COPY STATUS (00h) and OPERATING PARAMETERS (03h).</summary>
    private ScsiCommandResult ReceiveCopyResults(IScsiTask task, ReadOnlySpan<byte> cdb)
    {
        int serviceAction = cdb[1] & 0x1F;
        byte listId = cdb[2];
        int allocation = (int)Math.Min(BinaryPrimitives.ReadUInt32BigEndian(cdb[10..]), int.MaxValue);
        switch (serviceAction)
        {
            case 0x00:
            {
                // No kept result for this list identifier: the field naming it is invalid (SPC-4 §6.18.3).
                if (_copyResults.Take(task.Nexus, listId) is not { } status) return InvalidField(2);
                Span<byte> data = stackalloc byte[12];
                BinaryPrimitives.WriteUInt32BigEndian(data, 8);
                data[4] = status.Failed ? (byte)0x02 : (byte)0x01; // HDD 0; completed with / without errors
                BinaryPrimitives.WriteUInt16BigEndian(data[5..], (ushort)Math.Min(status.SegmentsProcessed, ushort.MaxValue));
                bool kib = status.BytesTransferred > uint.MaxValue;
                data[7] = kib ? (byte)0x01 : (byte)0x00; // TRANSFER COUNT UNITS: bytes, or KiB when bytes would not fit
                BinaryPrimitives.WriteUInt32BigEndian(data[8..], (uint)(kib ? status.BytesTransferred >> 10 : status.BytesTransferred));
                return SendData(task, data, allocation);
            }
            case 0x03:
            {
                var limits = CopyLimits;
                byte[] implemented = [ExtendedCopyRequest.BlockToBlock, ExtendedCopyRequest.BlockToBlockWithOffsets, ExtendedCopyRequest.IdentificationDescriptor];
                Span<byte> data = stackalloc byte[44 + implemented.Length];
                data.Clear();
                BinaryPrimitives.WriteUInt32BigEndian(data, (uint)(data.Length - 4));
                data[4] = 0x01; // SNLID: a list identifier names one copy at a time per nexus
                BinaryPrimitives.WriteUInt16BigEndian(data[8..], (ushort)limits.MaxCscdDescriptors);
                BinaryPrimitives.WriteUInt16BigEndian(data[10..], (ushort)limits.MaxSegmentDescriptors);
                BinaryPrimitives.WriteUInt32BigEndian(data[12..], (uint)limits.MaxDescriptorListLength);
                BinaryPrimitives.WriteUInt32BigEndian(data[16..], (uint)Math.Min(limits.MaxSegmentLength, uint.MaxValue));
                BinaryPrimitives.WriteUInt32BigEndian(data[20..], (uint)limits.MaxInlineDataLength);
                // HELD DATA LIMIT and MAXIMUM STREAM DEVICE TRANSFER SIZE stay 0: nothing is held, no stream devices.
                BinaryPrimitives.WriteUInt16BigEndian(data[34..], (ushort)limits.MaxConcurrentCopies);
                data[36] = (byte)Math.Min(limits.MaxConcurrentCopies, 255);
                data[37] = (byte)System.Numerics.BitOperations.Log2((uint)BlockSize); // DATA SEGMENT GRANULARITY (log2 bytes)
                data[43] = (byte)implemented.Length;
                implemented.CopyTo(data[44..]);
                return SendData(task, data, allocation);
            }
            default:
                return InvalidField(1, 4);
        }
    }
}
