using Iser.Core.Datamover;
using Iser.Transport.Iser.Memory;
using Iser.Transport.Iser.Verbs;

namespace Iser.Transport.Iser.Datamover;

/// <summary>
/// The target's registered bounce buffers for RDMA READ and WRITE, shared by every connection a listener accepts on
/// one device: one PD, slabs registered as the load needs them, none per connection. Two sizes: blocks of
/// <see cref="IserOptions.DataBufferSize"/> (up to <see cref="IserOptions.DataBufferPoolBytes"/>) and, for transfers
/// that fit one, small blocks of <see cref="IserOptions.SmallDataBufferSize"/> (up to a quarter of that), so a 4 KiB
/// read in flight holds 16 KiB of registered memory rather than 128 KiB. One credit per block bounds each pool (each
/// connection also has its own credits, <see cref="IserOptions.DataBuffers"/>, so one busy connection cannot take a
/// whole pool). Users: the listener and each connection; the last one out deregisters the slabs and frees the PD.
/// </summary>
internal sealed class SharedDataBuffers
{
    /// <summary>Blocks per registered slab: 1 MiB at the default block size.</summary>
    private const int BlocksPerSlab = 8;
    private const int SmallSlabBytes = 1 << 20;

    private readonly RdmaDevice _device;
    private readonly Tier _large;
    private readonly Tier? _small;
    private readonly UserCount _users = new(); // the listener's, then each connection's

    /// <summary>One block size: its pool and a credit per block it may grow to.</summary>
    private sealed class Tier(RegisteredBufferPool pool, int capacity)
    {
        public readonly RegisteredBufferPool Pool = pool;
        public readonly SemaphoreSlim Credits = new(capacity, capacity);
        public readonly int Capacity = capacity;
    }

    public SharedDataBuffers(RdmaDevice connectionDevice, IserOptions options)
    {
        // A PD on the device context itself, not on the first connection's rdma_cm id, which must be free to go.
        _device = connectionDevice.ShareContext();
        try
        {
            ProtectionDomain = _device.AllocateProtectionDomain();
            long slabBytes = (long)options.DataBufferSize * BlocksPerSlab;
            int maxSlabs = (int)Math.Max(1, Math.Min(int.MaxValue / BlocksPerSlab, options.DataBufferPoolBytes / slabBytes));
            _large = new Tier(new RegisteredBufferPool(ProtectionDomain, options.DataBufferSize, BlocksPerSlab, maxSlabs, initialSlabs: 0,
                access: MemoryAccess.LocalWrite, registeredChanged: IserConnectionCounters.SharedDataBuffersRegistered), maxSlabs * BlocksPerSlab);
            if (options.SmallDataBufferSize > 0 && options.SmallDataBufferSize < options.DataBufferSize)
            {
                int perSlab = Math.Max(1, SmallSlabBytes / options.SmallDataBufferSize);
                int smallSlabs = (int)Math.Max(1, options.DataBufferPoolBytes / 4 / SmallSlabBytes);
                _small = new Tier(new RegisteredBufferPool(ProtectionDomain, options.SmallDataBufferSize, perSlab, smallSlabs, initialSlabs: 0,
                    access: MemoryAccess.LocalWrite, registeredChanged: IserConnectionCounters.SharedDataBuffersRegistered), perSlab * smallSlabs);
            }
        }
        catch
        {
            _large?.Pool.Dispose();
            ProtectionDomain?.Dispose();
            _device.Dispose();
            throw;
        }
    }

    public ProtectionDomain ProtectionDomain { get; }

    public int BlockSize => _large.Pool.BlockSize;

    /// <summary>Bytes of a small block; 0 when there are none (every transfer uses <see cref="BlockSize"/>).</summary>
    public int SmallBlockSize => _small?.Pool.BlockSize ?? 0;

    /// <summary>Whether a transfer of <paramref name="length"/> bytes takes one small block.</summary>
    public bool FitsSmall(int length) => _small is not null && length <= _small.Pool.BlockSize;

    /// <summary>Large blocks the pool may grow to.</summary>
    public int Capacity => _large.Capacity;

    private Tier TierOf(bool small) => small ? _small ?? throw new InvalidOperationException("This pool has no small blocks.") : _large;

    /// <summary>A connection starts using the pool; false when it is already gone (the listener closed and its last user left).</summary>
    public bool AddUser() => _users.TryAdd();

    /// <summary>A user is done (its connection freed, or the listener closed); the last one frees the pool.</summary>
    public void RemoveUser()
    {
        if (!_users.Remove()) return;
        // The pools take their bytes off IserConnectionCounters.SharedDataBufferBytes as they go.
        _large.Pool.Dispose();
        _small?.Pool.Dispose();
        ProtectionDomain.Dispose();
        _device.Dispose();
    }

    /// <summary>Waits for one block's credit.</summary>
    public Task WaitAsync(bool small, CancellationToken cancellationToken) => TierOf(small).Credits.WaitAsync(cancellationToken);

    /// <summary>One more block's credit, without waiting.</summary>
    public bool TryTake(bool small) => TierOf(small).Credits.Wait(0);

    public void Release(bool small, int credits) => TierOf(small).Credits.Release(credits);

    /// <summary>A block for a credit held (a slab is registered when none is free); the credit stays with the block.</summary>
    public RegisteredBlock Rent(bool small)
    {
        RegisteredBlock block;
        try
        {
            if (!TierOf(small).Pool.TryRent(out block))
                throw new DatamoverException("The shared registered data buffer pool is exhausted although a credit was held.");
        }
        catch (VerbsException e)
        {
            throw new DatamoverException($"Registering more data buffers failed: {e.Message}", e);
        }
        return block;
    }

    /// <summary>A block comes back (to the pool of its size) with its credit.</summary>
    public void Return(RegisteredBlock block)
    {
        var tier = IsSmall(block) ? _small! : _large;
        tier.Pool.Return(block);
        tier.Credits.Release();
    }

    /// <summary>Whether the block is one of the small ones.</summary>
    public bool IsSmall(RegisteredBlock block) => _small is not null && block.Length == _small.Pool.BlockSize;
}
