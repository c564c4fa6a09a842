namespace Iser.Core.Scsi.Target.Stores;

/// <summary>
/// Byte-addressed storage behind a logical unit. Offsets and lengths are in bytes; the LU only issues
/// whole-block requests inside <see cref="Size"/>. Implementations must allow concurrent calls on disjoint ranges.
/// </summary>
public interface IBackingStore : IAsyncDisposable
{
    /// <summary>Capacity in bytes.</summary>
    long Size { get; }

    /// <summary>True when <see cref="DiscardAsync"/> releases space (thin provisioning); discarded ranges read back as zeros either way.</summary>
    bool SupportsDiscard { get; }

    /// <summary>Fills <paramref name="destination"/> with the bytes at <paramref name="offset"/>.</summary>
    ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken = default);

    /// <summary>Stores <paramref name="source"/> at <paramref name="offset"/>.</summary>
    ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> source, CancellationToken cancellationToken = default);

    /// <summary>Makes completed writes durable (SYNCHRONIZE CACHE).</summary>
    ValueTask FlushAsync(CancellationToken cancellationToken = default);

    /// <summary>Unmaps a range: afterwards it reads back as zeros.</summary>
    ValueTask DiscardAsync(long offset, long length, CancellationToken cancellationToken = default);

    /// <summary>
    /// The extent that starts at <paramref name="offset"/> and keeps one provisioning state, as far as the store can
    /// tell without scanning more than it likes (a shorter extent is fine: the caller asks again from its end). The
    /// default reports everything mapped, which is true of any store that never releases space.
    /// </summary>
    ValueTask<StoreExtent> GetExtentAsync(long offset, CancellationToken cancellationToken = default)
    {
        StoreRange.Check(offset, 0, Size);
        return new(new StoreExtent(offset, Size - offset, Mapped: true));
    }

    /// <summary>True when the store takes no writes (e.g. a snapshot): its logical unit is write-protected.</summary>
    bool IsReadOnly => false;

    /// <summary>True when <see cref="GrowAsync"/> can enlarge the store while it serves requests.</summary>
    bool CanGrow => false;

    /// <summary>
    /// Enlarges the store to <paramref name="newSize"/> bytes while it serves requests; the new space reads as zeros and
    /// takes requests once this completes. Stores never shrink: a LUN that shrinks under a file system loses its tail.
    /// </summary>
    ValueTask GrowAsync(long newSize, CancellationToken cancellationToken = default) =>
        throw new NotSupportedException($"The store {Describe()} cannot grow.");

    /// <summary>A one-line description for logs, e.g. "ram:1 GiB".</summary>
    string Describe();
}
