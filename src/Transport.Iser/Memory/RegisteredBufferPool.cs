using System.Runtime.InteropServices;
using Iser.Transport.Iser.Verbs;

namespace Iser.Transport.Iser.Memory;

/// <summary>
/// Fixed-size blocks carved from page-aligned native slabs, each slab registered ONCE with the
/// protection domain. Renting and returning a block touch only a preallocated free stack under a
/// short lock: no per-I/O allocation and no per-I/O registration. Slabs are added on demand up to
/// <c>maxSlabs</c>; memory is freed only when the pool is disposed.
/// </summary>
public sealed unsafe class RegisteredBufferPool : IDisposable
{
    private readonly ProtectionDomain _pd;
    private readonly MemoryAccess _access;
    private readonly int _blocksPerSlab;
    private readonly int _maxSlabs;
    private readonly nuint _slabBytes;
    private readonly List<Slab> _slabs = [];
    private readonly RegisteredBlock[] _blocks;
    private readonly int[] _free;
    private readonly bool[] _rented;
    private readonly Lock _lock = new();
    private readonly Action<long>? _registeredChanged;
    private int _freeCount;
    private int _createdBlocks;
    private bool _disposed;

    /// <param name="pd">The PD every block is registered with.</param>
    /// <param name="blockSize">Bytes per block; rounded up to a multiple of 64 (cache line).</param>
    /// <param name="blocksPerSlab">Blocks per registered slab.</param>
    /// <param name="maxSlabs">Upper bound on slabs (so on registered memory).</param>
    /// <param name="initialSlabs">Slabs registered up front.</param>
    /// <param name="registeredChanged">
    /// Told the bytes of blocks registered (positive, as each slab is added, under the pool's lock) and released
    /// (negative, all of them at <see cref="Dispose"/>): how a shared pool keeps a process-wide figure current.
    /// </param>
    public RegisteredBufferPool(
        ProtectionDomain pd, int blockSize, int blocksPerSlab, int maxSlabs = 1, int initialSlabs = 1,
        MemoryAccess access = MemoryAccess.LocalAndRemoteReadWrite, Action<long>? registeredChanged = null)
    {
        ArgumentNullException.ThrowIfNull(pd);
        ArgumentOutOfRangeException.ThrowIfLessThan(blockSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(blocksPerSlab, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxSlabs, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(initialSlabs, maxSlabs);

        _pd = pd;
        _access = access;
        _registeredChanged = registeredChanged;
        BlockSize = (blockSize + 63) & ~63;
        _blocksPerSlab = blocksPerSlab;
        _maxSlabs = maxSlabs;
        nuint page = (nuint)Environment.SystemPageSize;
        _slabBytes = ((nuint)BlockSize * (nuint)blocksPerSlab + page - 1) / page * page;

        int capacity = checked(blocksPerSlab * maxSlabs);
        _blocks = new RegisteredBlock[capacity];
        _free = new int[capacity];
        _rented = new bool[capacity];

        for (int i = 0; i < initialSlabs; i++)
        {
            AddSlab();
        }
    }

    public int BlockSize { get; }

    /// <summary>Blocks that exist (registered) now.</summary>
    public int TotalBlocks
    {
        get
        {
            lock (_lock)
            {
                return _createdBlocks;
            }
        }
    }

    /// <summary>Blocks ready to rent without adding a slab.</summary>
    public int AvailableBlocks
    {
        get
        {
            lock (_lock)
            {
                return _freeCount;
            }
        }
    }

    public int SlabCount
    {
        get
        {
            lock (_lock)
            {
                return _slabs.Count;
            }
        }
    }

    /// <summary>The memory regions backing the slabs (one registration each).</summary>
    public IReadOnlyList<MemoryRegion> Regions
    {
        get
        {
            lock (_lock)
            {
                return _slabs.Select(s => s.Region).ToArray();
            }
        }
    }

    /// <summary>Rents a block; adds (and registers) a slab when empty and below the limit. False when exhausted.</summary>
    public bool TryRent(out RegisteredBlock block)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_freeCount == 0 && _slabs.Count < _maxSlabs)
            {
                AddSlab();
            }

            if (_freeCount == 0)
            {
                block = default;
                return false;
            }

            int index = _free[--_freeCount];
            _rented[index] = true;
            block = _blocks[index];
            return true;
        }
    }

    /// <summary>Rents a block or throws when all <c>maxSlabs</c> slabs are in use.</summary>
    public RegisteredBlock Rent() => TryRent(out RegisteredBlock block)
        ? block
        : throw new InvalidOperationException($"The registered buffer pool is exhausted: all {_blocks.Length} blocks of {BlockSize} bytes are in use.");

    public void Return(RegisteredBlock block)
    {
        lock (_lock)
        {
            if ((uint)block.Index >= (uint)_createdBlocks || _blocks[block.Index] != block)
            {
                throw new ArgumentException("The block does not belong to this pool.", nameof(block));
            }

            if (!_rented[block.Index])
            {
                throw new InvalidOperationException($"Block {block.Index} was returned twice.");
            }

            _rented[block.Index] = false;
            _free[_freeCount++] = block.Index;
        }
    }

    /// <summary>Deregisters and frees every slab. Blocks still rented become invalid.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            foreach (Slab slab in _slabs)
            {
                slab.Region.Dispose();
            }

            _slabs.Clear();
            _registeredChanged?.Invoke(-(long)_createdBlocks * BlockSize);
        }
    }

    private void AddSlab()
    {
        byte* memory = (byte*)NativeMemory.AlignedAlloc(_slabBytes, (nuint)Environment.SystemPageSize);
        MemoryRegion region;
        try
        {
            NativeMemory.Clear(memory, _slabBytes);
            region = _pd.Register(memory, _slabBytes, _access, new AlignedNativeMemory(memory));
        }
        catch
        {
            NativeMemory.AlignedFree(memory);
            throw;
        }

        // The slab memory is freed by the region's release path, after deregistration.
        _slabs.Add(new Slab(region));
        for (int i = 0; i < _blocksPerSlab; i++)
        {
            int index = _createdBlocks++;
            byte* pointer = memory + (nint)i * BlockSize;
            _blocks[index] = new RegisteredBlock(index, pointer, BlockSize, region.Lkey, region.Rkey, new NativeMemoryManager(pointer, BlockSize));
            _free[_freeCount++] = index;
        }

        _registeredChanged?.Invoke((long)_blocksPerSlab * BlockSize);
    }

    private sealed record Slab(MemoryRegion Region);

    /// <summary>Frees a slab allocated with NativeMemory.AlignedAlloc; run after ibv_dereg_mr succeeded.</summary>
    private sealed class AlignedNativeMemory(byte* memory) : IDisposable
    {
        private byte* _memory = memory;

        public void Dispose()
        {
            byte* memory = _memory;
            _memory = null;
            if (memory != null)
            {
                NativeMemory.AlignedFree(memory);
            }
        }
    }
}
