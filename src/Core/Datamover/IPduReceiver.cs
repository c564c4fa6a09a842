using Iser.Core.Iscsi.Pdus;

namespace Iser.Core.Datamover;

/// <summary>
/// Control_Notify in push form: where a datamover delivers received PDUs once <see cref="IDatamoverConnection.StartReceiving"/>
/// was called. Both calls come on the transport's own receive thread (a CQ poller, a socket receive): the receiver
/// must not block, or it stalls every PDU behind it.
/// </summary>
public interface IPduReceiver
{
    /// <summary>One received PDU, in wire order; the receiver owns it (and returns it to <see cref="PduPool"/>).</summary>
    void OnPduReceived(Pdu pdu);

    /// <summary>
    /// Every PDU read so far has been delivered and the transport now waits for more. Only datamovers whose
    /// <see cref="IInitiatorDatamover.ReportsReceiveIdle"/> is true make this call, and the receiver may hold work back
    /// until it comes (the initiator batches its thread-pool completions so): a wrapper must forward it.
    /// <paramref name="threadFree"/>: the transport no longer needs this thread (its next read is already pending and
    /// completes elsewhere), so the receiver may run that work here; false on a thread that goes back to reading.
    /// </summary>
    void OnReceiveIdle(bool threadFree);

    /// <summary>
    /// True when <see cref="OnReceiveIdle"/> with a free thread would run work on it (the initiator's deferred
    /// thread-pool completions), which also means no run of such work is under way: a transport that can free a thread
    /// only at a price (waking another to read in its place) asks first, and knows a partner that ran the last batch
    /// is on its way back. A wrapper must forward it.
    /// </summary>
    bool HasIdleWork { get; }

    /// <summary>
    /// No PDU follows: null when the peer closed the connection cleanly, otherwise why it broke (or was terminated on
    /// this side). Called once, after the last <see cref="OnPduReceived"/>.
    /// </summary>
    void OnReceiveEnded(Exception? error);
}
