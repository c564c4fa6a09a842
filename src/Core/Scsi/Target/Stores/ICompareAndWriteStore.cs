namespace Iser.Core.Scsi.Target.Stores;

/// <summary>
/// A store that compares and writes atomically itself (e.g. librbd's compare_and_write), so the comparison also holds
/// against other clients of a shared medium, which the logical unit's own range lock cannot see.
/// </summary>
public interface ICompareAndWriteStore
{
    /// <summary>True when the store can do the range in one atomic step (some stores cannot cross an object boundary).</summary>
    bool CanCompareAndWrite(long offset, int length);

    /// <summary>
    /// Writes <paramref name="write"/> at <paramref name="offset"/> if the medium there equals <paramref name="compare"/>
    /// (same length); returns -1 when written, otherwise the offset of the first differing byte within the range.
    /// </summary>
    ValueTask<long> CompareAndWriteAsync(long offset, ReadOnlyMemory<byte> compare, ReadOnlyMemory<byte> write, CancellationToken cancellationToken = default);
}
