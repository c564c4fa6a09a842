using Iser.Core.Datamover;
using Iser.Core.Iscsi.Pdus;
using Iser.Core.Threading;

namespace Iser.Transport.Tcp;

/// <summary>
/// The thread that reads one connection's socket on its own, blocking in recv(2) (or spinning, when busy polling),
/// from its first PDU to its last. During login it reads one PDU per <see cref="PullAsync"/> (the pull side of
/// Control_Notify); once <see cref="Push"/> names a receiver it hands it every PDU as it is read. The socket is never
/// read asynchronously, so the runtime never registers it with its epoll thread: a response costs the wake-up of the
/// thread that reads it and nothing else.
/// <code>
///   waiting ──PullAsync──▶ reading one PDU ──▶ waiting
///      │                        └─ error or close: every later pull fails with it
///      ├──Push──▶ push loop (until the connection ends)
///      └──Stop──▶ ended
/// </code>
/// Thread-pool completions (the receiver's idle work) must not run on the thread that reads. When a read leaves some,
/// the reader passes its turn to a partner thread (<see cref="TurnRelay"/>) and runs them itself while the partner
/// reads; if the partner is still busy with the previous batch, the work goes to the thread pool instead.
/// </summary>
internal sealed class TcpReceiveThread
{
    private readonly TcpDatamoverConnection _connection;
    private readonly string _name;
    private readonly object _gate = new(); // Monitor: both threads wait on it
    private TaskCompletionSource<Pdu?>? _pull; // under _gate
    private IPduReceiver? _receiver;           // under _gate
    private Exception? _ended;                 // under _gate: why pulls can no longer be served
    private bool _stopped;                     // under _gate
    private TurnRelay? _turns; // the push's two readers, when it relays

    public TcpReceiveThread(TcpDatamoverConnection connection, string name)
    {
        _connection = connection;
        _name = name;
        new Thread(Run) { IsBackground = true, Name = $"iscsi-tcp-recv {name}" }.Start();
    }

    /// <summary>The next PDU, read by the thread; continuations run on the thread pool, not on the reading thread.</summary>
    public ValueTask<Pdu?> PullAsync(CancellationToken cancellationToken)
    {
        var request = new TaskCompletionSource<Pdu?>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            if (_ended is { } ended) return ValueTask.FromException<Pdu?>(ended);
            if (_pull is not null) throw new InvalidOperationException("A read of this connection is already pending.");
            if (_receiver is not null) throw new InvalidOperationException("The connection already delivers its PDUs to a receiver.");
            _pull = request;
            Monitor.PulseAll(_gate);
        }
        // A cancelled login abandons the connection, so the PDU the thread may still read is dropped with it.
        return new ValueTask<Pdu?>(cancellationToken.CanBeCanceled ? request.Task.WaitAsync(cancellationToken) : request.Task);
    }

    /// <summary>
    /// From now on the thread delivers every PDU to <paramref name="receiver"/>. <paramref name="relay"/>: idle work
    /// runs on the reading thread once a partner has taken over the reads (see the class comment); off for busy polling,
    /// where a second spinning thread would cost a second core.
    /// </summary>
    public void Push(IPduReceiver receiver, bool relay)
    {
        lock (_gate)
        {
            if (_receiver is not null) throw new InvalidOperationException("The connection already delivers its PDUs to a receiver.");
            if (relay) _turns = new TurnRelay(() => PushLoop(receiver), $"iscsi-tcp-recv2 {_name}");
            _receiver = receiver;
            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>The connection is closing (its socket already shut down): an idle thread ends, later pulls fail.</summary>
    public void Stop(Exception reason)
    {
        lock (_gate)
        {
            _stopped = true;
            _ended ??= reason;
            Monitor.PulseAll(_gate);
        }
    }

    private void Run()
    {
        while (true)
        {
            TaskCompletionSource<Pdu?>? pull;
            IPduReceiver? receiver;
            lock (_gate)
            {
                while (_pull is null && _receiver is null && !_stopped) Monitor.Wait(_gate);
                pull = _pull;
                receiver = _receiver;
                _pull = null;
                if (pull is null && receiver is null) return;
            }
            if (pull is null)
            {
                PushLoop(receiver!);
                return;
            }
            try
            {
                var pdu = _connection.ReadOne();
                if (pdu is null)
                {
                    lock (_gate) _ended ??= new DatamoverException("Connection closed by peer.");
                    pull.TrySetResult(null);
                }
                else if (!pull.TrySetResult(pdu))
                {
                    PduPool.Return(pdu);
                }
            }
            catch (Exception e)
            {
                lock (_gate) _ended ??= e;
                pull.TrySetException(e);
            }
        }
    }

    /// <summary>Reads and delivers while this thread holds the turn; returns when the connection ends or it waits in vain.</summary>
    private void PushLoop(IPduReceiver receiver)
    {
        Exception? error = null;
        try
        {
            while (true)
            {
                var pdu = _connection.ReadOne();
                if (pdu is null) break;
                _connection.Deliver(receiver, pdu);
                if (_connection.HasBufferedHeader) continue;
                if (_turns is { } turns && receiver.HasIdleWork && turns.TryPass(partnerIsReturning: true))
                {
                    receiver.OnReceiveIdle(threadFree: true);
                    if (!turns.AwaitTurn()) return; // the partner saw the end and told the receiver
                    continue;
                }
                receiver.OnReceiveIdle(threadFree: false);
            }
        }
        catch (Exception e)
        {
            error = _connection.ReceiveError(e);
        }
        _turns?.End();
        receiver.OnReceiveEnded(error);
    }
}
