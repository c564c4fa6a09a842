using System.Threading.Channels;
using Iser.Core.Datamover;
using Iser.Core.Iscsi.Pdus;

namespace Iser.Transport.Iser.Datamover;

/// <summary>
/// Where a connection's received control PDUs go. Until <see cref="StartPushing"/> they wait in a channel that
/// <see cref="ReadAsync"/> reads (the login, the target's command loop); after it, the CQ
/// thread hands each one straight to the receiver, with no queue and no thread hop. The switch keeps wire order:
/// PDUs already queued are handed over first, under a gate that a racing delivery waits on.
/// </summary>
internal sealed class ReceivedPduDelivery
{
    private readonly Channel<Pdu> _queue;
    private readonly Func<DatamoverException?> _endReason;
    private readonly Lock _gate = new();
    private IPduReceiver? _receiver;  // set under _gate, after the queued PDUs went to it
    private volatile bool _pushing;   // _receiver is set: deliveries skip the gate
    private int _endNotified;

    /// <param name="synchronousContinuations">Whether a reader waiting on the queue resumes on the delivering (CQ) thread.</param>
    /// <param name="endReason">Why nothing more comes: null for a clean close by the peer.</param>
    public ReceivedPduDelivery(bool synchronousContinuations, Func<DatamoverException?> endReason)
    {
        _queue = Channel.CreateUnbounded<Pdu>(new UnboundedChannelOptions
        {
            SingleReader = true, SingleWriter = true, AllowSynchronousContinuations = synchronousContinuations,
        });
        _endReason = endReason;
    }

    /// <summary>
    /// The next queued PDU (before push delivery: the login, the target's command loop); null after a clean close by
    /// the peer, the reason as a <see cref="DatamoverException"/> otherwise.
    /// </summary>
    public async ValueTask<Pdu?> ReadAsync(CancellationToken cancellationToken)
    {
        var reader = _queue.Reader;
        while (true)
        {
            if (reader.TryRead(out var pdu)) return pdu;
            bool more;
            try
            {
                more = await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (ChannelClosedException)
            {
                more = false;
            }
            if (!more) return _endReason() is { } error ? throw error : null;
        }
    }

    /// <summary>CQ thread: one decoded PDU, to the receiver or the queue.</summary>
    public void Deliver(Pdu pdu)
    {
        if (_pushing)
        {
            _receiver!.OnPduReceived(pdu);
            return;
        }
        lock (_gate)
        {
            if (_receiver is { } receiver) receiver.OnPduReceived(pdu); // the switch finished while this waited
            else if (!_queue.Writer.TryWrite(pdu)) PduPool.Return(pdu);
        }
    }

    /// <summary>CQ thread, the CQ found empty: a receiver hears that everything received so far was delivered.</summary>
    public void Idle(bool threadFree)
    {
        if (_pushing) _receiver!.OnReceiveIdle(threadFree);
    }

    /// <summary>True when the receiver would run work on a thread freed for it (see <see cref="IPduReceiver.HasIdleWork"/>).</summary>
    public bool HasIdleWork => _pushing && _receiver!.HasIdleWork;

    /// <summary>Nothing more will be delivered: the queue's reader sees the end, a receiver is told once.</summary>
    public void Complete()
    {
        _queue.Writer.TryComplete();
        IPduReceiver? receiver;
        lock (_gate) receiver = _receiver; // not installed yet: StartPushing sees the completed queue
        if (receiver is not null) NotifyEnded(receiver);
    }

    public void StartPushing(IPduReceiver receiver)
    {
        lock (_gate)
        {
            if (_receiver is not null) throw new InvalidOperationException("The connection already delivers its PDUs to a receiver.");
            while (_queue.Reader.TryRead(out var queued)) receiver.OnPduReceived(queued);
            receiver.OnReceiveIdle(threadFree: false);
            _receiver = receiver;
            _pushing = true;
        }
        if (_queue.Reader.Completion.IsCompleted) NotifyEnded(receiver);
    }

    /// <summary>Teardown: PDUs nobody read go back to the pool.</summary>
    public void Discard()
    {
        while (_queue.Reader.TryRead(out var left)) PduPool.Return(left);
    }

    private void NotifyEnded(IPduReceiver receiver)
    {
        if (Interlocked.Exchange(ref _endNotified, 1) == 0) receiver.OnReceiveEnded(_endReason());
    }
}
