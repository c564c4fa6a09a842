namespace Iser.Core.Scsi.Target.Stores;

/// <summary>
/// A store that repeats one block over a range itself (e.g. librbd's writesame), so WRITE SAME sends the block once
/// instead of the logical unit writing the whole range.
/// </summary>
public interface IWriteSameStore
{
    /// <summary>
    /// Writes <paramref name="pattern"/> repeatedly over <paramref name="length"/> bytes at <paramref name="offset"/>;
    /// <paramref name="length"/> is a multiple of the pattern's length. An empty pattern means zeros.
    /// </summary>
    ValueTask WriteSameAsync(long offset, long length, ReadOnlyMemory<byte> pattern, CancellationToken cancellationToken = default);
}
