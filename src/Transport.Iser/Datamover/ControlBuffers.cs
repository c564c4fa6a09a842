using Iser.Core.Datamover;
using Iser.Transport.Iser.Memory;
using Iser.Transport.Iser.Verbs;

namespace Iser.Transport.Iser.Datamover;

/// <summary>
/// A connection's registered control buffers: the receive ring's buffers and the send buffers with their credits
/// (one per send buffer, so a sender waits for a credit, never for a buffer). Each buffer holds one control PDU
/// (<see cref="IserOptions.ControlBufferSize"/>); slabs of 16 are registered as the ring and the sends grow.
/// On a target that shares its connections' resources the send buffers come from the listener's pool (the credits
/// stay the connection's) and there is no ring: receives go through the shared receive queue.
/// </summary>
internal sealed class ControlBuffers : IDisposable
{
    private const int PerSlab = 16;
    private readonly RegisteredBufferPool? _receives;
    private readonly RegisteredBufferPool _sends;
    private readonly bool _ownsSends;
    private readonly SemaphoreSlim _sendCredits;

    /// <param name="sharedSends">The listener's send buffers; null registers the connection's own.</param>
    public ControlBuffers(ProtectionDomain pd, IserOptions options, RegisteredBufferPool? sharedSends = null)
    {
        int size = options.ControlBufferSize;
        if (sharedSends is null)
        {
            int ring = options.ReceiveRing(options.QueueDepth);
            _receives = new RegisteredBufferPool(pd, size, PerSlab, maxSlabs: (ring + PerSlab - 1) / PerSlab + 1, initialSlabs: 1);
            _sends = new RegisteredBufferPool(pd, size, PerSlab, maxSlabs: (options.SendBuffers + PerSlab - 1) / PerSlab, initialSlabs: 1,
                access: MemoryAccess.LocalWrite);
            _ownsSends = true;
        }
        else
        {
            _sends = sharedSends;
        }
        _sendCredits = new SemaphoreSlim(options.SendBuffers, options.SendBuffers);
    }

    /// <summary>Bytes the connection itself registered (none when its buffers are the listener's).</summary>
    public long RegisteredBytes => _receives is null ? 0 : (long)_receives.TotalBlocks * _receives.BlockSize + (long)_sends.TotalBlocks * _sends.BlockSize;

    public int BlockSize => _sends.BlockSize;

    public bool TryRentReceive(out RegisteredBlock block)
    {
        if (_receives is not null) return _receives.TryRent(out block);
        block = default;
        return false;
    }

    public void ReturnReceive(RegisteredBlock block) => _receives!.Return(block);

    /// <summary>Waits for a send credit; <see cref="TryRentSend"/> then finds a buffer.</summary>
    public Task WaitSendCreditAsync(CancellationToken cancellationToken) => _sendCredits.WaitAsync(cancellationToken);

    /// <summary>A send buffer for the credit held; without one the credit goes back and the error says why.</summary>
    public bool TryRentSend(out RegisteredBlock block, out Exception? error)
    {
        bool rented;
        try
        {
            rented = _sends.TryRent(out block);
        }
        catch (VerbsException e)
        {
            // A shared pool grows by registering a slab: that may be refused (memlock).
            block = default;
            _sendCredits.Release();
            error = new DatamoverException($"Registering more send buffers failed: {e.Message}", e);
            return false;
        }
        if (rented)
        {
            error = null;
            return true;
        }
        _sendCredits.Release();
        error = new DatamoverException("No registered send buffer is free although a send credit was held.");
        return false;
    }

    /// <summary>A send buffer and its credit come back (its SEND completed, or it was never posted).</summary>
    public void ReturnSend(RegisteredBlock block)
    {
        _sends.Return(block);
        _sendCredits.Release();
    }

    public void Dispose()
    {
        _receives?.Dispose();
        if (_ownsSends) _sends.Dispose();
    }
}
