using Iser.Transport.Iser.Verbs;

namespace Iser.Transport.Iser.Memory;

/// <summary>
/// A use of a cached registration (<see cref="MemoryRegionCache.Acquire"/>): keys and address for
/// SGEs and for advertising to the peer. Dispose exactly once, after the RDMA operation completed.
/// </summary>
public readonly struct MemoryRegionLease : IDisposable
{
    private readonly MemoryRegionCache? _cache;
    private readonly MemoryRegionCache.Entry? _entry;

    internal MemoryRegionLease(MemoryRegionCache cache, MemoryRegionCache.Entry entry)
    {
        _cache = cache;
        _entry = entry;
    }

    private MemoryRegionCache.Entry Entry => _entry ?? throw new InvalidOperationException("The lease is empty.");

    public ulong Address => (ulong)Entry.Key.Address;

    public int Length => Entry.Key.Length;

    public uint Lkey => Entry.Region.Lkey;

    public uint Rkey => Entry.Region.Rkey;

    public MemoryRegion Region => Entry.Region;

    /// <summary>An SGE covering the whole buffer.</summary>
    public IbvSge Sge() => new(Address, (uint)Length, Lkey);

    public void Dispose()
    {
        if (_entry is not null)
        {
            _cache!.Release(_entry);
        }
    }
}
