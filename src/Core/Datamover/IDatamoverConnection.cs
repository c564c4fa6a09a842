using Iser.Core.Iscsi.Pdus;

namespace Iser.Core.Datamover;

/// <summary>
/// The seam between the iSCSI core and a transport (RFC 5047 / RFC 7145 Datamover Interface).
/// The core never sees a socket or a verb; a transport never sees a CDB.
/// </summary>
public interface IDatamoverConnection : IAsyncDisposable
{
    /// <summary>"tcp" or "iser".</summary>
    string TransportName { get; }
    string LocalEndPoint { get; }
    string RemoteEndPoint { get; }

    /// <summary>True when data moves by RDMA (iSER): no R2T / Data-In / Data-Out PDUs cross the wire.</summary>
    bool PlacesDataDirectly { get; }

    /// <summary>Send_Control: put one control PDU (with its data segment) on the wire.</summary>
    ValueTask SendControlAsync(Pdu pdu, CancellationToken cancellationToken = default);

    /// <summary>
    /// Control_Notify: the next PDU for the core, or null when the peer closed the connection cleanly.
    /// Throws <see cref="DatamoverException"/> on a broken connection or a PDU that cannot be framed.
    /// The caller owns (and disposes) the returned PDU.
    /// </summary>
    ValueTask<Pdu?> ReceiveControlAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Switches Control_Notify to push: from now on every received PDU goes to <paramref name="receiver"/> on the
    /// thread that reaped it (the CQ poller on iSER, the socket receive on TCP), and <see cref="ReceiveControlAsync"/>
    /// must no longer be called. PDUs that arrived before the switch are delivered first, in order.
    /// With <paramref name="busyPoll"/> the transport spins on its completion source instead of sleeping (iSER polls
    /// the CQ without arming it; TCP reads a non-blocking socket in a loop on a thread of its own): the lowest
    /// latency, at the price of one core kept busy for as long as the connection lives.
    /// </summary>
    void StartReceiving(IPduReceiver receiver, bool busyPoll = false);

    /// <summary>Notice_Key_Values: operational values negotiated so far (digests take effect at <see cref="EnableDatamover"/>).</summary>
    void NoticeKeyValues(ConnectionParameters parameters);

    /// <summary>Enable_Datamover: login is complete; switch to full feature operation (digests on, iSER mode).</summary>
    void EnableDatamover(IDatamoverHost host);

    /// <summary>Connection_Terminate: tear the connection down; outstanding operations fail with the reason.</summary>
    ValueTask TerminateAsync(string reason);
}
