using Iser.Core.Datamover;
using Iser.Core.Iscsi.Pdus;

namespace Iser.Tests.Transport.FaultInjection;

/// <summary>
/// A datamover for tests that wraps a real one (TCP, in-memory, iSER) and, as its <see cref="FaultPlan"/> says, drops,
/// delays (reorders) a chosen PDU or kills the connection at it: received PDUs on their way to the core, control PDUs on
/// their way to the transport. Everything else forwards, recovery calls included. Faults start once login is over.
/// </summary>
internal sealed class FaultInjectingDatamover(IInitiatorDatamover inner, FaultPlan plan) : DelegatingInitiatorDatamover(inner)
{
    private volatile bool _fullFeature;
    private Pdu? _held;
    private readonly object _heldGate = new();

    public override void EnableDatamover(IDatamoverHost host)
    {
        base.EnableDatamover(host);
        _fullFeature = true;
    }

    public override ValueTask SendControlAsync(Pdu pdu, CancellationToken cancellationToken = default)
    {
        if (_fullFeature && plan.Pick(FaultTarget.Sent, pdu) is { } rule)
        {
            switch (rule.Fault)
            {
                case Fault.Drop:
                    // Lost on the way: the sender learns it went out, as from a network that ate it.
                    pdu.SentNotification?.OnPduSent(pdu, null);
                    PduPool.Return(pdu);
                    return ValueTask.CompletedTask;
                case Fault.KillConnection:
                    PduPool.Return(pdu);
                    _ = Inner.TerminateAsync("connection killed by the fault plan");
                    return ValueTask.FromException(new DatamoverException("connection killed by the fault plan"));
            }
        }
        return base.SendControlAsync(pdu, cancellationToken);
    }

    public override void StartReceiving(IPduReceiver receiver, bool busyPoll = false) =>
        base.StartReceiving(new Filter(this, receiver), busyPoll);

    private sealed class Filter(FaultInjectingDatamover owner, IPduReceiver receiver) : IPduReceiver
    {
        public void OnPduReceived(Pdu pdu)
        {
            if (owner._fullFeature && owner.Pick(pdu) is { } rule)
            {
                switch (rule.Fault)
                {
                    case Fault.Drop:
                        PduPool.Return(pdu);
                        return;
                    case Fault.KillConnection:
                        PduPool.Return(pdu);
                        _ = owner.Inner.TerminateAsync("connection killed by the fault plan");
                        return;
                    case Fault.Delay:
                        lock (owner._heldGate) owner._held = pdu;
                        return;
                }
            }
            receiver.OnPduReceived(pdu);
            // A delayed PDU goes right after the next one: reordered.
            if (owner.TakeHeld() is { } held) receiver.OnPduReceived(held);
        }

        public void OnReceiveIdle(bool threadFree) => receiver.OnReceiveIdle(threadFree);
        public bool HasIdleWork => receiver.HasIdleWork;

        public void OnReceiveEnded(Exception? error)
        {
            if (owner.TakeHeld() is { } held) PduPool.Return(held);
            receiver.OnReceiveEnded(error);
        }
    }

    private FaultRule? Pick(Pdu pdu) => plan.Pick(FaultTarget.Received, pdu);

    private Pdu? TakeHeld()
    {
        lock (_heldGate)
        {
            if (_held is null) return null;
            var held = _held;
            _held = null;
            return held;
        }
    }
}
