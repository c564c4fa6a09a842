using System.Collections.Concurrent;
using Iser.Core.Datamover;
using Iser.Core.Iscsi.Pdus;

namespace Iser.Tests.Transport.InMemory;

/// <summary>
/// Stands in for the core on one end of a datamover: stamps a running number into Field24 of every PDU it is told is
/// being sent, records the sent notifications, and (as a receiver) the PDUs pushed to it and how delivery ended.
/// </summary>
internal sealed class PduProbe : IDatamoverHost, IPduSentNotification, IPduReceiver
{
    private uint _next;
    private readonly TaskCompletionSource<Exception?> _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>(Field24 it was stamped with, the error) per sent notification, in the order they came.</summary>
    public ConcurrentQueue<(uint Stamp, Exception? Error)> Sent { get; } = new();
    /// <summary>(Field24, first data byte) of every received PDU, in delivery order; the PDUs themselves went back to the pool.</summary>
    public BlockingCollection<(uint Stamp, byte First, int Length)> Received { get; } = new();
    /// <summary>What <see cref="OnReceiveEnded"/> said (null: the peer closed cleanly).</summary>
    public Task<Exception?> Ended => _ended.Task;

    public void OnSending(Pdu pdu) => pdu.Field24 = _next++;

    public void OnPduSent(Pdu pdu, Exception? error) => Sent.Enqueue((pdu.Field24, error));

    public void OnPduReceived(Pdu pdu)
    {
        Received.Add((pdu.Field24, pdu.Data.IsEmpty ? (byte)0 : pdu.Data.Span[0], pdu.Data.Length));
        PduPool.Return(pdu);
    }

    public void OnReceiveIdle(bool threadFree) { }
    public bool HasIdleWork => false;

    public void OnReceiveEnded(Exception? error) => _ended.TrySetResult(error);
}
