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
    /// No PDU follows: null when the peer closed the connection cleanly, otherwise why it broke (or was terminated on
    /// this side). Called once, after the last <see cref="OnPduReceived"/>.
    /// </summary>
    void OnReceiveEnded(Exception? error);
}
