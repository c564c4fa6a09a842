namespace Iser.Core.Scsi.Target.Stores;

/// <summary>
/// Sparse memory store: the space is cut into fixed-size chunks that are allocated on first write, so an
/// unwritten (or discarded) chunk costs one null reference and reads as zeros. A 1 GiB store costs 8 KiB until
/// written. Requests on disjoint ranges run concurrently. The chunk table changes only under one lock, and rarely: a
/// chunk allocated (first write), a whole chunk discarded, the table replaced by a longer copy (<see cref="GrowAsync"/>).
/// Requests read the table without it: a chunk object is the same in every copy of the table, and allocations and
/// discards always act on the newest copy.
/// </summary>
public sealed class RamBackingStore : IBackingStore
{
    public const int DefaultChunkSize = 1 << 20;

    private readonly object _tableGate = new();
    private byte[]?[] _chunks; // replaced by a longer copy on growth, under _tableGate
    private long _size;
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
        _size = size;
        _chunkSize = chunkSize;
        _chunkShift = System.Numerics.BitOperations.Log2((uint)chunkSize);
        _chunks = new byte[chunkCount][];
    }

    public long Size => Volatile.Read(ref _size);
    public bool SupportsDiscard => true;
    public bool CanGrow => true;

    /// <summary>Bytes of memory held by allocated chunks (for tests and diagnostics).</summary>
    public long AllocatedBytes
    {
        get
        {
            long total = 0;
            var chunks = Volatile.Read(ref _chunks);
            for (int i = 0; i < chunks.Length; i++)
                if (Volatile.Read(ref chunks[i]) is not null) total += _chunkSize;
            return total;
        }
    }

    public ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        StoreRange.Check(offset, destination.Length, Size);
        var chunks = Volatile.Read(ref _chunks);
        var span = destination.Span;
        while (!span.IsEmpty)
        {
            long index = offset >> _chunkShift;
            int within = (int)(offset & (_chunkSize - 1));
            int n = Math.Min(span.Length, _chunkSize - within);
            var chunk = Volatile.Read(ref chunks[index]);
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
        var chunks = Volatile.Read(ref _chunks);
        var span = source.Span;
        while (!span.IsEmpty)
        {
            long index = offset >> _chunkShift;
            int within = (int)(offset & (_chunkSize - 1));
            int n = Math.Min(span.Length, _chunkSize - within);
            var chunk = Volatile.Read(ref chunks[index]) ?? AllocateChunk(index);
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
        var chunks = Volatile.Read(ref _chunks);
        while (length > 0)
        {
            long index = offset >> _chunkShift;
            int within = (int)(offset & (_chunkSize - 1));
            int n = (int)Math.Min(length, _chunkSize - within);
            if (n == _chunkSize)
            {
                // A whole chunk: give the memory back, in the newest table.
                lock (_tableGate) Volatile.Write(ref _chunks[index], null);
            }
            else if (Volatile.Read(ref chunks[index]) is { } chunk)
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
        var chunks = Volatile.Read(ref _chunks);
        long index = offset >> _chunkShift;
        bool mapped = Volatile.Read(ref chunks[index]) is not null;
        long next = index + 1;
        while (next < chunks.Length && (Volatile.Read(ref chunks[next]) is not null) == mapped) next++;
        long end = Math.Min(next << _chunkShift, Size);
        return new(new StoreExtent(offset, end - offset, mapped));
    }

    public string Describe() => $"ram:{ByteSize.Format(Size)}";

    public ValueTask DisposeAsync()
    {
        Array.Clear(_chunks);
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// Grows the table: a longer copy holding the same chunks. The bytes of the last chunk beyond the old size were
    /// never written (requests stay inside the size), so the new space reads as zeros.
    /// </summary>
    public ValueTask GrowAsync(long newSize, CancellationToken cancellationToken = default)
    {
        lock (_tableGate)
        {
            long size = _size;
            if (newSize < size) throw new ArgumentOutOfRangeException(nameof(newSize), $"A store never shrinks: {newSize} bytes is less than its {size}.");
            long chunkCount = (newSize + _chunkSize - 1) / _chunkSize;
            if (chunkCount > Array.MaxLength)
                throw new ArgumentOutOfRangeException(nameof(newSize), $"A memory store of {newSize} bytes needs too many chunks of {_chunkSize} bytes.");
            if (chunkCount > _chunks.Length)
            {
                var longer = new byte[chunkCount][];
                Array.Copy(_chunks, longer, _chunks.Length);
                Volatile.Write(ref _chunks, longer);
            }
            Volatile.Write(ref _size, newSize);
        }
        return ValueTask.CompletedTask;
    }

    private byte[] AllocateChunk(long index)
    {
        // In the newest table, so that a table copied by a growth never misses a chunk. Two writers racing on a new
        // chunk: the first allocates, the other writes into the same chunk.
        lock (_tableGate)
        {
            if (Volatile.Read(ref _chunks[index]) is { } existing) return existing;
            var fresh = new byte[_chunkSize];
            Volatile.Write(ref _chunks[index], fresh);
            return fresh;
        }
    }
}
