using System.Buffers;
using Iser.Transport.Iser.Verbs;

namespace Iser.Transport.Iser.Memory;

/// <summary>
/// Registers caller-owned buffers for zero-copy RDMA and keeps the registrations for reuse: a
/// buffer handed in again (same address and length, e.g. an application's I/O buffer) is a hit and
/// costs no ibv_reg_mr. Bounded by entry count and bytes; when over a bound, the least recently
/// used registrations nobody is using are deregistered (and unpinned). A registration in use by
/// an outstanding lease is never evicted.
/// Keys are (address, length): while cached, the entry's own pin keeps a managed buffer at its
/// address. Memory from a native MemoryManager must not be freed while cached (call Clear first):
/// the old registration would still name the old pages.
/// </summary>
public sealed unsafe class MemoryRegionCache : IDisposable
{
    private readonly ProtectionDomain _pd;
    private readonly MemoryAccess _access;
    private readonly int _maxEntries;
    private readonly long _maxBytes;
    private readonly Dictionary<(nint Address, int Length), Entry> _entries = [];
    private readonly LinkedList<Entry> _lru = []; // most recently used first
    private readonly Lock _lock = new();
    private long _bytes;
    private long _hits;
    private long _misses;
    private long _evictions;
    private bool _disposed;

    public MemoryRegionCache(ProtectionDomain pd, int maxEntries, long maxBytes = long.MaxValue, MemoryAccess access = MemoryAccess.LocalAndRemoteReadWrite)
    {
        ArgumentNullException.ThrowIfNull(pd);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxEntries, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBytes, 1);
        _pd = pd;
        _access = access;
        _maxEntries = maxEntries;
        _maxBytes = maxBytes;
    }

    public long Hits => Interlocked.Read(ref _hits);

    public long Misses => Interlocked.Read(ref _misses);

    public long Evictions => Interlocked.Read(ref _evictions);

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _entries.Count;
            }
        }
    }

    public long RegisteredBytes
    {
        get
        {
            lock (_lock)
            {
                return _bytes;
            }
        }
    }

    /// <summary>
    /// Returns a registration covering <paramref name="buffer"/>, registering (and pinning) it on a
    /// miss. Dispose the lease when the RDMA operation using it has completed.
    /// </summary>
    public MemoryRegionLease Acquire(Memory<byte> buffer)
    {
        if (buffer.IsEmpty)
        {
            throw new ArgumentException("An empty buffer cannot be registered.", nameof(buffer));
        }

        // Pinning tells us the address; the cached entry holds its own pin, so this one is dropped.
        using MemoryHandle probe = buffer.Pin();
        (nint, int) key = ((nint)probe.Pointer, buffer.Length);

        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_entries.TryGetValue(key, out Entry? hit))
            {
                _hits++;
                hit.Users++;
                _lru.Remove(hit.Node);
                _lru.AddFirst(hit.Node);
                return new MemoryRegionLease(this, hit);
            }
        }

        // Register outside the lock: ibv_reg_mr is a system call that pins pages.
        MemoryRegion region = _pd.Register(buffer, _access);
        lock (_lock)
        {
            if (_disposed)
            {
                region.Dispose();
                ObjectDisposedException.ThrowIf(true, this);
            }

            _misses++;
            if (_entries.TryGetValue(key, out Entry? raced))
            {
                // Another thread registered the same buffer meanwhile: use its entry, drop ours.
                region.Dispose();
                raced.Users++;
                _lru.Remove(raced.Node);
                _lru.AddFirst(raced.Node);
                return new MemoryRegionLease(this, raced);
            }

            Entry entry = new(key, region);
            entry.Users = 1;
            _entries.Add(key, entry);
            _lru.AddFirst(entry.Node);
            _bytes += buffer.Length;
            EvictIdleOverBounds();
            return new MemoryRegionLease(this, entry);
        }
    }

    internal void Release(Entry entry)
    {
        lock (_lock)
        {
            entry.Users--;
            if (entry.Users < 0)
            {
                throw new InvalidOperationException("A memory region lease was released twice.");
            }

            if (entry.Evicted && entry.Users == 0)
            {
                entry.Region.Dispose();
                return;
            }

            EvictIdleOverBounds();
        }
    }

    /// <summary>Drops all idle registrations (in-use ones go when their leases end).</summary>
    public void Clear()
    {
        lock (_lock)
        {
            foreach (Entry entry in _lru.ToArray())
            {
                if (entry.Users == 0)
                {
                    Evict(entry);
                }
            }
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            foreach (Entry entry in _lru.ToArray())
            {
                Evict(entry);
            }
        }
    }

    private void EvictIdleOverBounds()
    {
        LinkedListNode<Entry>? node = _lru.Last;
        while (node is not null && (_entries.Count > _maxEntries || _bytes > _maxBytes))
        {
            LinkedListNode<Entry>? previous = node.Previous;
            if (node.Value.Users == 0)
            {
                Evict(node.Value);
                _evictions++;
            }

            node = previous;
        }
    }

    private void Evict(Entry entry)
    {
        _entries.Remove(entry.Key);
        _lru.Remove(entry.Node);
        _bytes -= (long)entry.Region.Length;
        entry.Evicted = true;
        if (entry.Users == 0)
        {
            entry.Region.Dispose();
        }
    }

    internal sealed class Entry
    {
        internal Entry((nint, int) key, MemoryRegion region)
        {
            Key = key;
            Region = region;
            Node = new LinkedListNode<Entry>(this);
        }

        internal (nint Address, int Length) Key { get; }

        internal MemoryRegion Region { get; }

        internal LinkedListNode<Entry> Node { get; }

        internal int Users { get; set; }

        internal bool Evicted { get; set; }
    }
}
