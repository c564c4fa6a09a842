namespace Iser.Core.Scsi.Target.Stores;

/// <summary>Reads zeros and drops writes: measures the protocol path without any storage cost.</summary>
public sealed class NullBackingStore : IBackingStore
{
    public NullBackingStore(long size)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(size);
        Size = size;
    }

    public long Size { get; }
    public bool SupportsDiscard => true;

    public ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        StoreRange.Check(offset, destination.Length, Size);
        destination.Span.Clear();
        return ValueTask.CompletedTask;
    }

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> source, CancellationToken cancellationToken = default)
    {
        StoreRange.Check(offset, source.Length, Size);
        return ValueTask.CompletedTask;
    }

    public ValueTask FlushAsync(CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

    public ValueTask DiscardAsync(long offset, long length, CancellationToken cancellationToken = default)
    {
        StoreRange.Check(offset, length, Size);
        return ValueTask.CompletedTask;
    }

    public string Describe() => $"null:{ByteSize.Format(Size)}";

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
