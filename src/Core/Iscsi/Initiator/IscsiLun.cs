using System.Runtime.CompilerServices;
using Iser.Core.Scsi;
using Iser.Core.Scsi.Initiator;

namespace Iser.Core.Iscsi.Initiator;

/// <summary>
/// One logical unit behind a session, as a block device: reads and writes by LBA with READ/WRITE (10) or (16) as the
/// address needs. Transfers are not split (the target splits into PDUs); a buffer must be a whole number of blocks.
/// Failures other than transport ones are <see cref="ScsiCommandException"/> with the decoded sense.
/// </summary>
public sealed class IscsiLun
{
    private readonly IscsiSession _session;

    internal IscsiLun(IscsiSession session, int lun)
    {
        _session = session;
        Lun = lun;
    }

    public int Lun { get; }
    public IscsiSession Session => _session;
    /// <summary>Logical block length in bytes (from READ CAPACITY).</summary>
    public int BlockSize { get; private set; }
    public long BlockCount { get; private set; }
    public long CapacityBytes => BlockSize * BlockCount;
    /// <summary>The last READ CAPACITY answer (provisioning, protection, physical block exponent).</summary>
    public ReadCapacityData Capacity { get; private set; }

    public ValueTask ReadAsync(long lba, Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        uint blocks = CheckRange(lba, buffer.Length);
        Span<byte> cdb = stackalloc byte[16];
        int length = CdbBuilder.Read(cdb, (ulong)lba, blocks);
        return CheckAsync(_session.ExecuteAsync(Lun, cdb[..length], buffer, default, cancellationToken), BlockOperation.Read, buffer, default,
            lba, blocks, cancellationToken);
    }

    public ValueTask WriteAsync(long lba, ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        uint blocks = CheckRange(lba, buffer.Length);
        Span<byte> cdb = stackalloc byte[16];
        int length = CdbBuilder.Write(cdb, (ulong)lba, blocks);
        return CheckAsync(_session.ExecuteAsync(Lun, cdb[..length], default, buffer, cancellationToken), BlockOperation.Write, default, buffer,
            lba, blocks, cancellationToken);
    }

    /// <summary>SYNCHRONIZE CACHE (10) over the whole medium.</summary>
    public ValueTask FlushAsync(CancellationToken cancellationToken = default)
    {
        Span<byte> cdb = stackalloc byte[16];
        int length = CdbBuilder.SynchronizeCache10(cdb);
        return CheckAsync(_session.ExecuteAsync(Lun, cdb[..length], default, default, cancellationToken), BlockOperation.Flush, default, default,
            -1, 0, cancellationToken);
    }

    /// <summary>UNMAP one range of blocks.</summary>
    public ValueTask UnmapAsync(long lba, long blocks, CancellationToken cancellationToken = default)
    {
        if (blocks is <= 0 or > uint.MaxValue) throw new ArgumentOutOfRangeException(nameof(blocks), "UNMAP takes 1 to 2^32-1 blocks per range.");
        CheckBlocks(lba, blocks);
        var parameters = new byte[UnmapParameterList.GetLength(1)];
        UnmapParameterList.Write(parameters, [new UnmapBlockDescriptor((ulong)lba, (uint)blocks)]);
        Span<byte> cdb = stackalloc byte[16];
        int length = CdbBuilder.Unmap(cdb, (ushort)parameters.Length);
        return CheckAsync(_session.ExecuteAsync(Lun, cdb[..length], default, parameters, cancellationToken), BlockOperation.Unmap, default, parameters,
            lba, (uint)blocks, cancellationToken);
    }

    /// <summary>Standard INQUIRY (vendor, product, revision, device type).</summary>
    public async ValueTask<InquiryData> InquiryAsync(CancellationToken cancellationToken = default) =>
        await _session.InquiryAsync(Lun, cancellationToken).ConfigureAwait(false);

    /// <summary>A VPD page of this LUN, whole.</summary>
    public async ValueTask<byte[]> InquiryVpdAsync(byte page, CancellationToken cancellationToken = default) =>
        await _session.InquiryVpdAsync(Lun, page, cancellationToken).ConfigureAwait(false);

    /// <summary>READ CAPACITY (16), or (10) when the device does not know it; sets <see cref="BlockSize"/> and <see cref="BlockCount"/>.</summary>
    public async ValueTask<ReadCapacityData> ReadCapacityAsync(CancellationToken cancellationToken = default)
    {
        var cdb = new byte[16];
        var data = new byte[ReadCapacityData.Length16];
        int length = CdbBuilder.ReadCapacity16(cdb);
        var response = await ExecuteRetryingAsync(cdb.AsMemory(0, length), data, default, cancellationToken).ConfigureAwait(false);
        ReadCapacityData capacity;
        if (response.IsGood)
            capacity = ReadCapacityData.ParseReadCapacity16(data.AsSpan(0, response.TransferredLength));
        else if (response.Status == ScsiStatus.CheckCondition && response.Sense?.SenseKey == SenseKey.IllegalRequest)
        {
            // An older device without SERVICE ACTION IN (16).
            length = CdbBuilder.ReadCapacity10(cdb);
            response = await ExecuteRetryingAsync(cdb.AsMemory(0, length), data.AsMemory(0, ReadCapacityData.Length10), default, cancellationToken)
                .ConfigureAwait(false);
            if (!response.IsGood) throw response.ToException("READ CAPACITY(10)");
            capacity = ReadCapacityData.ParseReadCapacity10(data.AsSpan(0, response.TransferredLength));
        }
        else throw response.ToException("READ CAPACITY(16)");
        Capacity = capacity;
        BlockCount = (long)capacity.BlockCount;
        BlockSize = (int)capacity.BlockSize;
        return capacity;
    }

    private uint CheckRange(long lba, int length)
    {
        if (BlockSize <= 0) throw new InvalidOperationException($"The block size of LUN {Lun} is not known yet; call ReadCapacityAsync first.");
        if (length == 0 || length % BlockSize != 0)
            throw new ArgumentException($"The buffer is {length} bytes, not a whole number of {BlockSize}-byte blocks.");
        int blocks = length / BlockSize;
        CheckBlocks(lba, blocks);
        return (uint)blocks;
    }

    private void CheckBlocks(long lba, long blocks)
    {
        if (lba < 0 || BlockCount > 0 && lba + blocks > BlockCount)
            throw new ArgumentOutOfRangeException(nameof(lba), $"Blocks {lba}..{lba + blocks - 1} lie beyond the end of LUN {Lun} ({BlockCount} blocks).");
    }

    /// <summary>
    /// UNIT ATTENTION (e.g. "power on, reset" on the first command of a session, "capacity changed") reports an event,
    /// not a failure of the command: it is retried a few times, as the Linux SCSI layer does.
    /// </summary>
    private const int UnitAttentionRetries = 3;

    private static bool IsUnitAttention(in ScsiResponse response) =>
        response.Status == ScsiStatus.CheckCondition && response.Sense?.SenseKey == SenseKey.UnitAttention;

    private async ValueTask<ScsiResponse> ExecuteRetryingAsync(ReadOnlyMemory<byte> cdb, Memory<byte> dataIn, ReadOnlyMemory<byte> dataOut, CancellationToken ct)
    {
        var response = await _session.ExecuteAsync(Lun, cdb.Span, dataIn, dataOut, ct).ConfigureAwait(false);
        for (int attempt = 0; attempt < UnitAttentionRetries && IsUnitAttention(response); attempt++)
            response = await _session.ExecuteAsync(Lun, cdb.Span, dataIn, dataOut, ct).ConfigureAwait(false);
        return response;
    }

    private enum BlockOperation { Read, Write, Flush, Unmap }

    /// <summary>The CDB of a block operation, built again only on the rare path that has to resend it.</summary>
    private static int BuildCdb(BlockOperation operation, long lba, uint blocks, int parameterLength, Span<byte> cdb) => operation switch
    {
        BlockOperation.Read => CdbBuilder.Read(cdb, (ulong)lba, blocks),
        BlockOperation.Write => CdbBuilder.Write(cdb, (ulong)lba, blocks),
        BlockOperation.Flush => CdbBuilder.SynchronizeCache10(cdb),
        _ => CdbBuilder.Unmap(cdb, (ushort)parameterLength),
    };

    private static string CommandName(BlockOperation operation, long lba, uint blocks) => operation switch
    {
        BlockOperation.Read => CdbBuilder.FitsTenByteCdb((ulong)lba, blocks) ? "READ(10)" : "READ(16)",
        BlockOperation.Write => CdbBuilder.FitsTenByteCdb((ulong)lba, blocks) ? "WRITE(10)" : "WRITE(16)",
        BlockOperation.Flush => "SYNCHRONIZE CACHE(10)",
        _ => "UNMAP",
    };

    /// <summary>Awaits a block command without allocating on the common path (GOOD status).</summary>
    private ValueTask CheckAsync(ValueTask<ScsiResponse> pending, BlockOperation operation, Memory<byte> dataIn, ReadOnlyMemory<byte> dataOut,
        long lba, uint blocks, CancellationToken ct)
    {
        if (pending.IsCompletedSuccessfully)
        {
            var response = pending.Result;
            if (response.IsGood) return ValueTask.CompletedTask;
            if (!IsUnitAttention(response)) return ValueTask.FromException(Failure(response, operation, lba, blocks));
        }
        return CheckSlowAsync(pending, operation, dataIn, dataOut, lba, blocks, ct);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask CheckSlowAsync(ValueTask<ScsiResponse> pending, BlockOperation operation, Memory<byte> dataIn, ReadOnlyMemory<byte> dataOut,
        long lba, uint blocks, CancellationToken ct)
    {
        var response = await pending.ConfigureAwait(false);
        bool capacityChanged = false;
        for (int attempt = 0; attempt < UnitAttentionRetries && IsUnitAttention(response); attempt++)
        {
            capacityChanged |= response.Sense is { Asc: 0x2A, Ascq: 0x09 };
            var cdb = new byte[16];
            int length = BuildCdb(operation, lba, blocks, dataOut.Length, cdb);
            response = await _session.ExecuteAsync(Lun, cdb.AsSpan(0, length), dataIn, dataOut, ct).ConfigureAwait(false);
        }
        if (!response.IsGood) throw Failure(response, operation, lba, blocks);
        // CAPACITY DATA HAS CHANGED (the LUN grew): read the capacity again, as Linux rescans a disk's size.
        if (capacityChanged) await ReadCapacityAsync(ct).ConfigureAwait(false);
    }

    private ScsiCommandException Failure(in ScsiResponse response, BlockOperation operation, long lba, uint blocks)
    {
        string command = CommandName(operation, lba, blocks);
        return response.ToException(operation == BlockOperation.Flush ? $"{command} on LUN {Lun}" : $"{command} of {blocks} block(s) at LBA {lba} on LUN {Lun}");
    }
}
