using Iser.Core.Datamover;
using Iser.Core.Iscsi.Pdus;

namespace Iser.Tests.Initiator;

/// <summary>
/// Wraps a transport so a test can tell whether code runs inside the transport's delivery of a received PDU, i.e.
/// on the completion thread with the datamover's call still on the stack (<see cref="InDelivery"/>).
/// </summary>
internal sealed class DeliveryMarkingTransport(IInitiatorTransport inner) : IInitiatorTransport
{
    [ThreadStatic] private static bool t_inDelivery;

    /// <summary>True while this thread is inside a datamover's OnPduReceived call.</summary>
    public static bool InDelivery => t_inDelivery;

    public string TransportName => inner.TransportName;

    public async ValueTask<IInitiatorDatamover> ConnectAsync(string host, int port, CancellationToken cancellationToken) =>
        new Datamover(await inner.ConnectAsync(host, port, cancellationToken));

    private sealed class Datamover(IInitiatorDatamover inner) : DelegatingInitiatorDatamover(inner)
    {
        public override void StartReceiving(IPduReceiver receiver, bool busyPoll = false) => Inner.StartReceiving(new Receiver(receiver), busyPoll);
    }

    private sealed class Receiver(IPduReceiver inner) : IPduReceiver
    {
        public void OnPduReceived(Pdu pdu)
        {
            t_inDelivery = true;
            try { inner.OnPduReceived(pdu); }
            finally { t_inDelivery = false; }
        }

        public void OnReceiveIdle(bool threadFree) => inner.OnReceiveIdle(threadFree);
        public bool HasIdleWork => inner.HasIdleWork;

        public void OnReceiveEnded(Exception? error) => inner.OnReceiveEnded(error);
    }
}
