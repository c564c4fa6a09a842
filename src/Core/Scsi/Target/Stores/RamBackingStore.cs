namespace Iser.Core.Scsi.Target.Stores;

/// <summary>
/// Sparse memory store: the space is cut into fixed-size chunks that are allocated on first write, so an
/// unwritten (or discarded) chunk costs one null reference and reads as zeros. A 1 GiB store costs 8 KiB until
/// written. Requests on disjoint ranges run concurrently; the only synchronisation is the compare-exchange that
/// publishes a newly allocated chunk.
/// </summary>
public sealed class RamBackingStore : IBackingStore
{
    public const int DefaultChunkSize = 1 << 20;

    private readonly byte[]?[] _chunks;
    private readonly int _chunkShift;
    private readonly int _chunkSize;

    public RamBackingStore(long size, int chunkSize = DefaultChunkSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(size);
        if (chunkSize < 4096 || (chunkSize & (chunkSize - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(chunkSize), "The chunk size must be a power of two of at least 4096 bytes.");
        long chunkCount = (size + chunkSize - 1) / chunkSize;
        if (chunkCount > Array.MaxLength)
            throw new ArgumentOutOfRangeException(nameof(size), $"A memory store of {size} bytes needs too many chunks of {chunkSize} bytes; use a larger chunk size.");
        Size = size;
        _chunkSize = chunkSize;
        _chunkShift = System.Numerics.BitOperations.Log2((uint)chunkSize);
        _chunks = new byte[chunkCount][];
    }

    public long Size { get; }
    public bool SupportsDiscard => true;

    /// <summary>Bytes of memory held by allocated chunks (for tests and diagnostics).</summary>
    public long AllocatedBytes
    {
        get
        {
            long total = 0;
            for (int i = 0; i < _chunks.Length; i++)
                if (Volatile.Read(ref _chunks[i]) is not null) total += _chunkSize;
            return total;
        }
    }

    public ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        StoreRange.Check(offset, destination.Length, Size);
        var span = destination.Span;
        while (!span.IsEmpty)
        {
            long index = offset >> _chunkShift;
            int within = (int)(offset & (_chunkSize - 1));
            int n = Math.Min(span.Length, _chunkSize - within);
            var chunk = Volatile.Read(ref _chunks[index]);
            if (chunk is null) span[..n].Clear();
            else chunk.AsSpan(within, n).CopyTo(span);
            span = span[n..];
            offset += n;
        }
        return ValueTask.CompletedTask;
    }

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> source, CancellationToken cancellationToken = default)
    {
        StoreRange.Check(offset, source.Length, Size);
        var span = source.Span;
        while (!span.IsEmpty)
        {
            long index = offset >> _chunkShift;
            int within = (int)(offset & (_chunkSize - 1));
            int n = Math.Min(span.Length, _chunkSize - within);
            var chunk = Volatile.Read(ref _chunks[index]) ?? AllocateChunk(index);
            span[..n].CopyTo(chunk.AsSpan(within, n));
            span = span[n..];
            offset += n;
        }
        return ValueTask.CompletedTask;
    }

    public ValueTask FlushAsync(CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

    public ValueTask DiscardAsync(long offset, long length, CancellationToken cancellationToken = default)
    {
        StoreRange.Check(offset, length, Size);
        while (length > 0)
        {
            long index = offset >> _chunkShift;
            int within = (int)(offset & (_chunkSize - 1));
            int n = (int)Math.Min(length, _chunkSize - within);
            if (n == _chunkSize)
            {
                // A whole chunk: give the memory back.
                Volatile.Write(ref _chunks[index], null);
            }
            else if (Volatile.Read(ref _chunks[index]) is { } chunk)
            {
                chunk.AsSpan(within, n).Clear();
            }
            offset += n;
            length -= n;
        }
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// Chunk-grained: a chunk never written, or discarded whole, is deallocated; a chunk that holds memory is mapped
    /// even where a partial discard zeroed it, since the memory is still held.
    /// </summary>
    public ValueTask<StoreExtent> GetExtentAsync(long offset, CancellationToken cancellationToken = default)
    {
        StoreRange.Check(offset, 0, Size);
        if (offset == Size) return new(new StoreExtent(offset, 0, true));
        long index = offset >> _chunkShift;
        bool mapped = Volatile.Read(ref _chunks[index]) is not null;
        long next = index + 1;
        while (next < _chunks.Length && (Volatile.Read(ref _chunks[next]) is not null) == mapped) next++;
        long end = Math.Min(next << _chunkShift, Size);
        return new(new StoreExtent(offset, end - offset, mapped));
    }

    public string Describe() => $"ram:{ByteSize.Format(Size)}";

    public ValueTask DisposeAsync()
    {
        Array.Clear(_chunks);
        return ValueTask.CompletedTask;
    }

    private byte[] AllocateChunk(long index)
    {
        var fresh = new byte[_chunkSize];
        // Two writers racing on a new chunk: the first to publish wins, the other writes into the winner's chunk.
        return Interlocked.CompareExchange(ref _chunks[index], fresh, null) ?? fresh;
    }
}
