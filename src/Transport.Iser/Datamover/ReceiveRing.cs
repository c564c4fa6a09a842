using Iser.Core.Datamover;
using Iser.Core.Iscsi.Pdus;
using Iser.Transport.Iser.Memory;
using Iser.Transport.Iser.Protocol;
using Iser.Transport.Iser.Verbs;

namespace Iser.Transport.Iser.Datamover;

/// <summary>What a <see cref="ReceiveRing"/> needs from its connection; unit tests drive the ring through a fake.</summary>
internal interface IReceiveRingOwner
{
    /// <summary>A registered receive buffer; false when the pool is exhausted.</summary>
    bool TryRentReceiveBuffer(out RegisteredBlock block);

    void ReturnReceiveBuffer(RegisteredBlock block);

    /// <summary>ibv_post_recv of one buffer.</summary>
    PostResult PostReceive(ulong wrId, in IbvSge sge);

    /// <summary>The connection cannot go on (a post failed, a PDU did not decode).</summary>
    void ReceiveFailed(Exception error);
}

/// <summary>
/// The ring of posted receive buffers: filled at connect and at Enable_Datamover, each buffer reposted as soon as its
/// PDU is decoded (the ring never shrinks), the decoded PDU handed to <see cref="ReceivedPduDelivery"/>.
/// <para>Once closed it posts nothing more, and <see cref="Close"/> waits for a post in progress: a receive posted
/// after the queue pair went to the error state may never be flushed (rxe's userspace provider posts receives
/// without entering the kernel, so nothing drains a queue that was already drained), and it would hold the
/// connection's resources until the drain timeout. The connection closes the ring before it disconnects.</para>
/// </summary>
internal sealed class ReceiveRing
{
    private readonly IReceiveRingOwner _owner;
    private readonly WorkRequestTable _requests;
    private readonly ConnectionReferences _references;
    private readonly ReceivedPduDelivery _delivery;
    private readonly Lock _gate = new();
    private bool _closed;
    private int _posted;

    public ReceiveRing(IReceiveRingOwner owner, WorkRequestTable requests, ConnectionReferences references, ReceivedPduDelivery delivery)
    {
        _owner = owner;
        _requests = requests;
        _references = references;
        _delivery = delivery;
    }

    /// <summary>Receive work requests posted and not yet completed.</summary>
    public int Posted => Volatile.Read(ref _posted);

    /// <summary>
    /// Posts up to <paramref name="count"/> more buffers. False when the pool ran out first (the caller says so);
    /// true otherwise, also when a failed post or a close stopped it (the connection is ending then).
    /// </summary>
    public bool Grow(int count)
    {
        for (int i = 0; i < count; i++)
        {
            if (!_owner.TryRentReceiveBuffer(out RegisteredBlock block)) return false;
            if (!Post(block)) return true;
        }
        return true;
    }

    /// <summary>
    /// CQ thread: a receive completed. With <paramref name="deliver"/> (it succeeded and the connection is open) the
    /// PDU is decoded, the buffer reposted and the PDU delivered; otherwise the buffer goes back to the pool.
    /// </summary>
    public void Completed(RegisteredBlock block, int byteLength, bool deliver)
    {
        Interlocked.Decrement(ref _posted);
        if (!deliver)
        {
            _owner.ReturnReceiveBuffer(block);
            return;
        }
        Pdu pdu;
        try
        {
            pdu = IserPduCodec.Decode(block.Span[..byteLength]);
        }
        catch (Exception e)
        {
            _owner.ReturnReceiveBuffer(block);
            _owner.ReceiveFailed(e);
            return;
        }
        // Repost the same buffer before handing the PDU up: the ring never shrinks.
        if (!Post(block))
        {
            PduPool.Return(pdu);
            return;
        }
        _delivery.Deliver(pdu);
    }

    /// <summary>No more posts; returns once a post in progress on another thread has ended.</summary>
    public void Close()
    {
        lock (_gate) _closed = true;
    }

    /// <summary>Posts one buffer. False (the buffer back in the pool) when closed or when the post failed.</summary>
    private bool Post(RegisteredBlock block)
    {
        Exception? failure;
        lock (_gate)
        {
            if (_closed)
            {
                _owner.ReturnReceiveBuffer(block);
                return false;
            }
            if (!_requests.TryAllocate(WorkRequestKind.Receive, block, null, null, out ulong wrId))
            {
                _owner.ReturnReceiveBuffer(block);
                failure = new DatamoverException("Every work request slot is in use; a receive buffer could not be posted.");
            }
            else
            {
                _references.AddPosted(1);
                Interlocked.Increment(ref _posted);
                PostResult result = _owner.PostReceive(wrId, block.Sge(block.Length));
                if (result.Succeeded)
                {
                    IserConnectionCounters.Posted(1);
                    return true;
                }
                // Not posted: it will never complete, so its slot, buffer and reference go back now.
                _requests.Take(wrId);
                _owner.ReturnReceiveBuffer(block);
                Interlocked.Decrement(ref _posted);
                _references.CompletionArrived();
                failure = new DatamoverException($"Posting a receive buffer failed: {result.ErrorText("ibv_post_recv")}");
            }
        }
        // Outside the gate: failing closes this ring.
        _owner.ReceiveFailed(failure);
        return false;
    }
}
