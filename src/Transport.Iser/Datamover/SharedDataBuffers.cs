using Iser.Core.Datamover;
using Iser.Transport.Iser.Memory;
using Iser.Transport.Iser.Verbs;

namespace Iser.Transport.Iser.Datamover;

/// <summary>
/// The target's registered bounce buffers for RDMA READ and WRITE, shared by every connection a listener accepts on
/// one device: one PD, slabs registered as the load needs them, up to <see cref="IserOptions.DataBufferPoolBytes"/>,
/// none per connection. One credit per block bounds what all connections hold together (each connection also has its
/// own credits, <see cref="IserOptions.DataBuffers"/>, so one busy connection cannot take the whole pool).
/// Users: the listener and each connection; the last one out deregisters the slabs and frees the PD.
/// </summary>
internal sealed class SharedDataBuffers
{
    /// <summary>Blocks per registered slab: 1 MiB at the default block size.</summary>
    private const int BlocksPerSlab = 8;

    private readonly RdmaDevice _device;
    private readonly RegisteredBufferPool _pool;
    private readonly SemaphoreSlim _credits;
    private readonly Lock _reportGate = new();
    private long _reported;
    private int _users = 1; // the listener's

    public SharedDataBuffers(RdmaDevice connectionDevice, IserOptions options)
    {
        // A PD on the device context itself, not on the first connection's rdma_cm id, which must be free to go.
        _device = connectionDevice.ShareContext();
        try
        {
            ProtectionDomain = _device.AllocateProtectionDomain();
            long slabBytes = (long)options.DataBufferSize * BlocksPerSlab;
            int maxSlabs = (int)Math.Max(1, Math.Min(int.MaxValue / BlocksPerSlab, options.DataBufferPoolBytes / slabBytes));
            _pool = new RegisteredBufferPool(ProtectionDomain, options.DataBufferSize, BlocksPerSlab, maxSlabs, initialSlabs: 0,
                access: MemoryAccess.LocalWrite);
            Capacity = maxSlabs * BlocksPerSlab;
            _credits = new SemaphoreSlim(Capacity, Capacity);
        }
        catch
        {
            ProtectionDomain?.Dispose();
            _device.Dispose();
            throw;
        }
    }

    public ProtectionDomain ProtectionDomain { get; }

    public int BlockSize => _pool.BlockSize;

    /// <summary>Blocks the pool may grow to.</summary>
    public int Capacity { get; }

    /// <summary>Bytes registered now.</summary>
    public long RegisteredBytes => (long)_pool.TotalBlocks * _pool.BlockSize;

    /// <summary>A connection starts using the pool; false when it is already gone (the listener closed and its last user left).</summary>
    public bool AddUser()
    {
        int users;
        do
        {
            users = Volatile.Read(ref _users);
            if (users == 0) return false;
        }
        while (Interlocked.CompareExchange(ref _users, users + 1, users) != users);
        return true;
    }

    /// <summary>A user is done (its connection freed, or the listener closed); the last one frees the pool.</summary>
    public void RemoveUser()
    {
        if (Interlocked.Decrement(ref _users) != 0) return;
        _pool.Dispose();
        ProtectionDomain.Dispose();
        _device.Dispose();
        lock (_reportGate) IserConnectionCounters.SharedDataBuffersRegistered(-Interlocked.Exchange(ref _reported, 0));
    }

    /// <summary>Waits for one block's credit.</summary>
    public Task WaitAsync(CancellationToken cancellationToken) => _credits.WaitAsync(cancellationToken);

    /// <summary>One more block's credit, without waiting.</summary>
    public bool TryTake() => _credits.Wait(0);

    public void Release(int credits) => _credits.Release(credits);

    /// <summary>A block for a credit held (a slab is registered when none is free); the credit stays with the block.</summary>
    public RegisteredBlock Rent()
    {
        RegisteredBlock block;
        try
        {
            if (!_pool.TryRent(out block))
                throw new DatamoverException("The shared registered data buffer pool is exhausted although a credit was held.");
        }
        catch (VerbsException e)
        {
            throw new DatamoverException($"Registering more data buffers failed: {e.Message}", e);
        }
        if (Volatile.Read(ref _reported) < RegisteredBytes) Report();
        return block;
    }

    /// <summary>A block comes back with its credit.</summary>
    public void Return(RegisteredBlock block)
    {
        _pool.Return(block);
        _credits.Release();
    }

    private void Report()
    {
        lock (_reportGate)
        {
            long now = RegisteredBytes;
            IserConnectionCounters.SharedDataBuffersRegistered(now - _reported);
            _reported = now;
        }
    }
}
