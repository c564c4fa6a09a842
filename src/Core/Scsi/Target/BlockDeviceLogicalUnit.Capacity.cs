using Microsoft.Extensions.Logging;

namespace Iser.Core.Scsi.Target;

public sealed partial class BlockDeviceLogicalUnit
{
    /// <summary>
    /// Grows the logical unit to <paramref name="blockCount"/> blocks while it serves commands: the store grows first,
    /// then the new blocks take commands, then every I_T nexus the LU knows is told by CAPACITY DATA HAS CHANGED (2Ah/09h,
    /// SBC-4 §4.6), on which initiators read the capacity again (Linux rescans the disk's size). A logical unit never
    /// shrinks: blocks an initiator already uses would vanish under its file system.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Fewer blocks than now.</exception>
    /// <exception cref="NotSupportedException">The store cannot grow (e.g. the null store).</exception>
    public async ValueTask GrowAsync(long blockCount, CancellationToken cancellationToken = default)
    {
        long current = BlockCount;
        if (blockCount < current)
            throw new ArgumentOutOfRangeException(nameof(blockCount), $"Logical unit {Identity} has {current} blocks; it can grow but not shrink to {blockCount}.");
        if (blockCount == current) return;
        if (blockCount > long.MaxValue >> _blockShift)
            throw new ArgumentOutOfRangeException(nameof(blockCount), $"{blockCount} blocks of {BlockSize} bytes do not fit in a 64-bit byte count.");
        if (!_store.CanGrow)
            throw new NotSupportedException($"Logical unit {Identity} cannot grow: its store ({_store.Describe()}) has a fixed size.");
        await _store.GrowAsync(blockCount << _blockShift, cancellationToken).ConfigureAwait(false);
        // Two growths at once: the larger one wins, whichever finishes last.
        long seen;
        while ((seen = Volatile.Read(ref _blockCount)) < blockCount && Interlocked.CompareExchange(ref _blockCount, blockCount, seen) != seen) { }
        _unitAttentions.EstablishForAll(UnitAttentions.CapacityDataChanged);
        _logger.LogInformation("Logical unit {Identity} grew from {Old} to {New} blocks of {BlockSize} bytes.", Identity, current, blockCount, BlockSize);
    }

    /// <summary>
    /// The medium grew under the store (another client resized a shared image): the unit grows to match and tells every
    /// nexus. Raised off the I/O path; a failure is logged, the unit keeps its size.
    /// </summary>
    private void OnMediumGrown(long bytes)
    {
        long blocks = bytes >> _blockShift;
        if (blocks <= BlockCount) return;
        _ = GrowToMediumAsync(blocks);
    }

    private async Task GrowToMediumAsync(long blocks)
    {
        try { await GrowAsync(blocks).ConfigureAwait(false); }
        catch (Exception e) when (e is IOException or ArgumentException or NotSupportedException)
        {
            _logger.LogWarning(e, "Logical unit {Identity}: its medium grew to {Blocks} blocks but the unit could not follow.", Identity, blocks);
        }
    }
}
