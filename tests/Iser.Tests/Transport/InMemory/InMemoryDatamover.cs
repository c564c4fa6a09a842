using System.Collections.Concurrent;
using System.Threading.Channels;
using Iser.Core.Datamover;
using Iser.Core.Iscsi.Pdus;

namespace Iser.Tests.Transport.InMemory;

/// <summary>
/// One end of an <see cref="InMemoryConnection"/>. A sent PDU is copied into a PDU of the peer's own (so no buffer is
/// shared between the sides) and put in the peer's inbox; the sender's PDU is then reported sent and returned to the
/// pool, as the TCP writer does once the bytes are out. Like the TCP writer, whichever sender finds the end idle
/// drains everything queued, so PDUs are stamped (<see cref="IDatamoverHost.OnSending"/>) and delivered in one order,
/// with no lock held across the core's callbacks. The peer's code never runs on the sender's thread: its inbox
/// resumes readers on the thread pool.
/// </summary>
public abstract class InMemoryDatamover : IDatamoverConnection
{
    private const int LoginDataSegmentLimit = 8192;

    private readonly Channel<Pdu> _inbox = Channel.CreateUnbounded<Pdu>(new UnboundedChannelOptions
    {
        SingleReader = false, // Break discards what nobody will read, alongside the reader
        SingleWriter = false,
        AllowSynchronousContinuations = false,
    });
    private readonly ConcurrentQueue<Pdu> _outbox = new();
    private int _draining;
    private IDatamoverHost? _host;
    private ConnectionParameters _parameters = new();
    private volatile bool _fullFeature;
    private volatile bool _completing;
    private int _terminated;
    private int _receiving;
    // Why this end's receive ends in an error (terminated here, killed); null while it runs or when the peer closed.
    private volatile DatamoverException? _receiveFailure;
    // Why sends fail: set on both ends by any termination.
    private volatile DatamoverException? _sendFailure;

    private protected InMemoryDatamover(InMemoryConnection connection, string localEndPoint, string remoteEndPoint)
    {
        Connection = connection;
        LocalEndPoint = localEndPoint;
        RemoteEndPoint = remoteEndPoint;
    }

    public InMemoryConnection Connection { get; }
    internal InMemoryDatamover Peer { get; set; } = null!;

    public string TransportName => "memory";
    public string LocalEndPoint { get; }
    public string RemoteEndPoint { get; }
    /// <summary>Data moves as iSER's does: placed straight into the initiator's buffers, never in Data-In/Data-Out PDUs.</summary>
    public bool PlacesDataDirectly => true;
    public ConnectionParameters CurrentParameters => _parameters;
    public bool IsClosed => _sendFailure is not null;

    /// <summary>Data placement on a closed connection fails as an RDMA operation on a dead queue pair does.</summary>
    private protected void ThrowIfClosed()
    {
        if (_sendFailure is { } failure) throw failure;
    }

    // ---------------------------------------------------------------- sending

    public ValueTask SendControlAsync(Pdu pdu, CancellationToken cancellationToken = default)
    {
        var refused = _sendFailure ?? (_completing ? new DatamoverException($"The in-memory connection {Connection.Name} is closing; PDU not sent.") : null);
        if (refused is not null)
        {
            pdu.SentNotification?.OnPduSent(pdu, refused);
            PduPool.Return(pdu);
            throw refused;
        }
        _outbox.Enqueue(pdu);
        if (Interlocked.CompareExchange(ref _draining, 1, 0) == 0) Drain();
        return ValueTask.CompletedTask;
    }

    private void Drain()
    {
        while (true)
        {
            while (_outbox.TryDequeue(out var pdu)) Transmit(pdu);
            Volatile.Write(ref _draining, 0);
            // A sender may have queued after our last look but before we let go: take the job back.
            if (_outbox.IsEmpty || Interlocked.CompareExchange(ref _draining, 1, 0) != 0) return;
        }
    }

    private void Transmit(Pdu pdu)
    {
        Exception? error = _sendFailure;
        if (error is null)
        {
            try
            {
                _host?.OnSending(pdu);
                var copy = Copy(pdu);
                if (!Peer.Accept(copy))
                {
                    PduPool.Return(copy);
                    error = _sendFailure ?? new DatamoverException($"The in-memory connection {Connection.Name} is closed; PDU not sent.");
                }
            }
            catch (Exception e)
            {
                error = new DatamoverException($"Sending {pdu.Opcode} on {Connection.Name} failed: {e.Message}", e);
                Connection.Kill(error.Message);
            }
        }
        try
        {
            pdu.SentNotification?.OnPduSent(pdu, error);
        }
        catch (Exception e)
        {
            // A sent notification must not throw (the TCP writer would lose the connection too): make it loud.
            Connection.Kill($"the sent notification of {pdu.Opcode} ITT 0x{pdu.InitiatorTaskTag:x8} threw {e.GetType().Name}: {e.Message}");
        }
        PduPool.Return(pdu);
    }

    /// <summary>The receiving side's own PDU: header, AHS and data copied, the iSER buffer advertisement carried along.</summary>
    private static Pdu Copy(Pdu pdu)
    {
        var copy = PduPool.Rent();
        pdu.Bhs.CopyTo(copy.Bhs, 0);
        if (!pdu.Ahs.IsEmpty) copy.Ahs = pdu.Ahs.ToArray();
        copy.SetData(pdu.Data.Span);
        copy.Rdma = pdu.Rdma;
        return copy;
    }

    private bool Accept(Pdu pdu) => _inbox.Writer.TryWrite(pdu);

    // ---------------------------------------------------------------- receiving

    public async ValueTask<Pdu?> ReceiveControlAsync(CancellationToken cancellationToken = default)
    {
        var reader = _inbox.Reader;
        while (true)
        {
            if (TryTake(out var pdu, out bool ended)) return pdu;
            if (ended) return null;
            if (!await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                if (_receiveFailure is { } failure) throw failure;
                return null;
            }
        }
    }

    /// <summary>
    /// The next PDU if one is there. <paramref name="ended"/>: nothing more will come (the peer closed cleanly).
    /// Throws when this end was terminated or broken, or the PDU exceeds what this end declared it accepts.
    /// </summary>
    private bool TryTake(out Pdu pdu, out bool ended)
    {
        ended = false;
        if (_receiveFailure is { } failure)
        {
            DiscardInbox();
            throw failure;
        }
        if (_inbox.Reader.TryRead(out pdu!))
        {
            CheckSegmentLength(pdu);
            return true;
        }
        if (_inbox.Reader.Completion.IsCompleted)
        {
            if (_receiveFailure is { } late) throw late;
            ended = true;
        }
        return false;
    }

    /// <summary>As the TCP reader does: a data segment larger than this end declared (8192 during login) breaks the connection.</summary>
    private void CheckSegmentLength(Pdu pdu)
    {
        int limit = _fullFeature ? _parameters.MaxRecvDataSegmentLength : Math.Max(LoginDataSegmentLimit, _parameters.MaxRecvDataSegmentLength);
        if (pdu.Data.Length <= limit) return;
        var error = new PduFormatException(
            $"{pdu.Opcode} ITT 0x{pdu.InitiatorTaskTag:x8} carries a {pdu.Data.Length}-byte data segment; {LocalEndPoint} accepts at most {limit}.");
        PduPool.Return(pdu);
        Break(error);
        Peer.EndByPeer(new DatamoverException($"The in-memory connection {Connection.Name} was closed by the peer: {error.Message}"));
        throw error;
    }

    /// <summary>
    /// Push delivery: a loop on the thread pool (or, with <paramref name="busyPoll"/>, a thread of this end's own that
    /// spins on the inbox) hands every PDU to <paramref name="receiver"/>, those that arrived before the switch first.
    /// </summary>
    public void StartReceiving(IPduReceiver receiver, bool busyPoll = false)
    {
        if (Interlocked.Exchange(ref _receiving, 1) != 0)
            throw new InvalidOperationException("The connection already delivers its PDUs to a receiver.");
        if (busyPoll)
        {
            new Thread(() => PollLoop(receiver)) { IsBackground = true, Name = $"memory-poll {LocalEndPoint}" }.Start();
            return;
        }
        ThreadPool.UnsafeQueueUserWorkItem(static s => _ = s.self.ReceiveLoopAsync(s.receiver), (self: this, receiver), preferLocal: false);
    }

    private async Task ReceiveLoopAsync(IPduReceiver receiver)
    {
        Exception? error = null;
        try
        {
            while (await ReceiveControlAsync().ConfigureAwait(false) is { } pdu)
            {
                receiver.OnPduReceived(pdu);
                // Nothing else queued: the next receive waits (or completes on another thread), so this one is let go.
                if (_inbox.Reader.Count == 0) receiver.OnReceiveIdle(threadFree: false);
            }
        }
        catch (Exception e)
        {
            error = e;
        }
        receiver.OnReceiveEnded(error);
    }

    private void PollLoop(IPduReceiver receiver)
    {
        Exception? error = null;
        try
        {
            var spin = new SpinWait();
            while (true)
            {
                if (TryTake(out var pdu, out bool ended))
                {
                    receiver.OnPduReceived(pdu);
                    if (_inbox.Reader.Count == 0) receiver.OnReceiveIdle(threadFree: false);
                    spin.Reset();
                    continue;
                }
                if (ended) break;
                spin.SpinOnce();
            }
        }
        catch (Exception e)
        {
            error = e;
        }
        receiver.OnReceiveEnded(error);
    }

    // ---------------------------------------------------------------- negotiation

    public void NoticeKeyValues(ConnectionParameters parameters) => _parameters = parameters;

    public void EnableDatamover(IDatamoverHost host)
    {
        _host = host;
        _fullFeature = true;
    }

    // ---------------------------------------------------------------- teardown

    /// <summary>
    /// Connection_Terminate: what this end already queued is delivered first (as the TCP writer drains before the
    /// socket closes), then this end's receive fails with <paramref name="reason"/> and the peer's ends cleanly after
    /// the PDUs it has; sends on either end fail from then on.
    /// </summary>
    public async ValueTask TerminateAsync(string reason)
    {
        if (Interlocked.Exchange(ref _terminated, 1) != 0) return;
        _completing = true;
        var deadline = Environment.TickCount64 + 2000;
        while ((Volatile.Read(ref _draining) != 0 || !_outbox.IsEmpty) && Environment.TickCount64 < deadline)
        {
            if (Interlocked.CompareExchange(ref _draining, 1, 0) == 0) Drain();
            else await Task.Delay(1).ConfigureAwait(false); // another thread is draining (possibly the caller's own callback)
        }
        Break(new DatamoverException($"The in-memory connection {Connection.Name} was closed on this side ({reason})."));
        Peer.EndByPeer(new DatamoverException($"The in-memory connection {Connection.Name} was closed by the peer ({reason})."));
    }

    /// <summary>This end fails: its receive throws <paramref name="error"/> (queued PDUs are dropped), its sends fail.</summary>
    internal void Break(DatamoverException error)
    {
        Interlocked.CompareExchange(ref _receiveFailure, error, null);
        Interlocked.CompareExchange(ref _sendFailure, error, null);
        _inbox.Writer.TryComplete();
        FailQueuedSends();
    }

    /// <summary>The peer closed: this end reads what already arrived, then the end of the stream; its sends fail.</summary>
    private void EndByPeer(DatamoverException error)
    {
        Interlocked.CompareExchange(ref _sendFailure, error, null);
        _inbox.Writer.TryComplete();
        FailQueuedSends();
    }

    /// <summary>Sends queued behind a drainer on another thread fail now rather than when it gets to them.</summary>
    private void FailQueuedSends()
    {
        if (Interlocked.CompareExchange(ref _draining, 1, 0) == 0) Drain();
    }

    private void DiscardInbox()
    {
        while (_inbox.Reader.TryRead(out var left)) PduPool.Return(left);
    }

    public async ValueTask DisposeAsync()
    {
        await TerminateAsync("disposed").ConfigureAwait(false);
        GC.SuppressFinalize(this);
    }
}
