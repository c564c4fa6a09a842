using Iser.Core.Datamover;
using Iser.Transport.Iser.Memory;
using Iser.Transport.Iser.Verbs;

namespace Iser.Transport.Iser.Datamover;

/// <summary>
/// A connection's registered control buffers: the receive ring's buffers and the send buffers with their credits
/// (one per send buffer, so a sender waits for a credit, never for a buffer). Each buffer holds one control PDU
/// (<see cref="IserOptions.ControlBufferSize"/>); slabs of 16 are registered as the ring and the sends grow.
/// </summary>
internal sealed class ControlBuffers : IDisposable
{
    private const int PerSlab = 16;
    private readonly RegisteredBufferPool _receives;
    private readonly RegisteredBufferPool _sends;
    private readonly SemaphoreSlim _sendCredits;

    public ControlBuffers(ProtectionDomain pd, IserOptions options)
    {
        int size = options.ControlBufferSize;
        int ring = options.ReceiveRing(options.QueueDepth);
        _receives = new RegisteredBufferPool(pd, size, PerSlab, maxSlabs: (ring + PerSlab - 1) / PerSlab + 1, initialSlabs: 1);
        _sends = new RegisteredBufferPool(pd, size, PerSlab, maxSlabs: (options.SendBuffers + PerSlab - 1) / PerSlab, initialSlabs: 1,
            access: MemoryAccess.LocalWrite);
        _sendCredits = new SemaphoreSlim(options.SendBuffers, options.SendBuffers);
    }

    /// <summary>Bytes registered now.</summary>
    public long RegisteredBytes => (long)_receives.TotalBlocks * _receives.BlockSize + (long)_sends.TotalBlocks * _sends.BlockSize;

    public int BlockSize => _receives.BlockSize;

    public bool TryRentReceive(out RegisteredBlock block) => _receives.TryRent(out block);

    public void ReturnReceive(RegisteredBlock block) => _receives.Return(block);

    /// <summary>Waits for a send credit; <see cref="TryRentSend"/> then finds a buffer.</summary>
    public Task WaitSendCreditAsync(CancellationToken cancellationToken) => _sendCredits.WaitAsync(cancellationToken);

    /// <summary>A send buffer for the credit held; without one the credit goes back and the error says why.</summary>
    public bool TryRentSend(out RegisteredBlock block, out Exception? error)
    {
        if (_sends.TryRent(out block))
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
        _receives.Dispose();
        _sends.Dispose();
    }
}
