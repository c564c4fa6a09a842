using System.Net.Sockets;
using Iser.Core.Datamover;
using Iser.Core.Iscsi.Pdus;
using Microsoft.Extensions.Logging;

namespace Iser.Transport.Tcp;

/// <summary>What both TCP roles share: the socket, its reader and writer, and the negotiated values.</summary>
public abstract class TcpDatamoverConnection : IDatamoverConnection
{
    private protected readonly Socket Socket;
    private protected readonly TcpPduReader Reader;
    private protected readonly TcpPduWriter Writer;
    private protected readonly ILogger Logger;
    private protected ConnectionParameters Parameters = new();
    private protected volatile bool FullFeature;
    private int _terminated;
    private string _terminateReason = "";

    // With a receive thread of its own (see TcpInitiatorOptions.ReceiveThread): the thread, and the waiter that resumes
    // the writer when the socket's buffer is full. Both null: the runtime's asynchronous socket calls.
    private readonly TcpReceiveThread? _receiveThread;
    private readonly SocketWritableWaiter? _writable;

    /// <param name="ownThread">
    /// Read the socket on a thread of this connection's own, blocking in recv(2), and send without ever waiting
    /// (Linux; the socket must never have been used asynchronously, i.e. connected with a blocking connect).
    /// </param>
    private protected TcpDatamoverConnection(Socket socket, ILogger logger, bool ownThread = false)
    {
        Socket = socket;
        Logger = logger;
        socket.NoDelay = true;
        LocalEndPoint = socket.LocalEndPoint?.ToString() ?? "?";
        RemoteEndPoint = socket.RemoteEndPoint?.ToString() ?? "?";
        Reader = new TcpPduReader(socket);
        if (ownThread)
        {
            if (!SocketSyscalls.IsSupported) throw new PlatformNotSupportedException("A TCP receive thread of its own needs Linux.");
            Reader.Wait = ReadWait.Blocking;
            _writable = new SocketWritableWaiter(socket, RemoteEndPoint);
            _receiveThread = new TcpReceiveThread(this, RemoteEndPoint);
        }
        Writer = new TcpPduWriter(socket, logger, _writable);
    }

    public string TransportName => "tcp";
    public string LocalEndPoint { get; }
    public string RemoteEndPoint { get; }
    public bool PlacesDataDirectly => false;
    public ConnectionParameters CurrentParameters => Parameters;

    /// <summary>Max data segment we accept; during login the RFC default of 8192 applies.</summary>
    private protected int ReceiveLimit => FullFeature ? Parameters.MaxRecvDataSegmentLength : Math.Max(8192, Parameters.MaxRecvDataSegmentLength);

    public ValueTask SendControlAsync(Pdu pdu, CancellationToken cancellationToken = default)
    {
        Writer.Enqueue(pdu);
        return ValueTask.CompletedTask;
    }

    public ValueTask<Pdu?> ReceiveControlAsync(CancellationToken cancellationToken = default) =>
        _receiveThread is { } thread ? thread.PullAsync(cancellationToken) : ReadPduAsync(cancellationToken);

    /// <summary>Reads the next PDU (its data placed where it belongs); null at a clean close between PDUs.</summary>
    private protected abstract ValueTask<Pdu?> ReadPduAsync(CancellationToken cancellationToken);

    /// <summary>One PDU, on the calling thread: the reads of a connection with its own thread never go pending.</summary>
    internal Pdu? ReadOne()
    {
        var pending = ReadPduAsync(CancellationToken.None);
        return pending.IsCompleted ? pending.Result : pending.AsTask().GetAwaiter().GetResult();
    }

    /// <summary>
    /// Push delivery. With a receive thread of its own (see the constructor) that thread, blocked in recv(2)
    /// until bytes arrive, hands each PDU to the receiver and tells it when the socket is drained
    /// (<see cref="IPduReceiver.OnReceiveIdle"/>, thread not free); with <paramref name="busyPoll"/> it spins on a
    /// non-blocking recv instead of sleeping: a response is handled the moment it lands, and one core stays busy until
    /// the connection closes.
    /// Without one (the target, or other systems), reads complete on the thread pool (the runtime's socket engine wakes
    /// a worker for each readable socket) and each PDU goes to the receiver on that worker; once a read finds the
    /// socket empty, the next read is left pending (it completes on another worker) and this worker, free, tells the
    /// receiver so, which may run its callers' continuations on it. Busy polling then starts a thread that spins.
    /// </summary>
    public void StartReceiving(IPduReceiver receiver, bool busyPoll = false)
    {
        if (_receiveThread is { } thread)
        {
            if (busyPoll) Reader.Wait = ReadWait.Spinning; // read by the thread only after Push's barrier
            thread.Push(receiver, relay: !busyPoll);
            return;
        }
        if (!busyPoll)
        {
            _pushReceiver = receiver;
            _resumePush = ResumePush;
            ThreadPool.UnsafeQueueUserWorkItem(static self => self.Pump(), this, preferLocal: false);
            return;
        }
        Socket.Blocking = false;
        Reader.Wait = ReadWait.Spinning;
        new TcpReceiveThread(this, RemoteEndPoint).Push(receiver, relay: false);
    }

    private IPduReceiver? _pushReceiver;
    private Action? _resumePush;
    private ValueTask<Pdu?> _pendingRead; // the read Pump left pending; ResumePush takes its result

    /// <summary>Reads and delivers while reads complete at once; leaves the first pending one to resume on its own.</summary>
    private void Pump()
    {
        var receiver = _pushReceiver!;
        try
        {
            while (true)
            {
                var read = ReadPduAsync(CancellationToken.None);
                if (!read.IsCompleted)
                {
                    _pendingRead = read;
                    read.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(_resumePush!);
                    receiver.OnReceiveIdle(threadFree: true);
                    return;
                }
                if (read.Result is not { } pdu) break;
                Deliver(receiver, pdu);
            }
        }
        catch (Exception e)
        {
            receiver.OnReceiveEnded(e);
            return;
        }
        receiver.OnReceiveEnded(null);
    }

    private void ResumePush()
    {
        var receiver = _pushReceiver!;
        var read = _pendingRead;
        _pendingRead = default;
        Pdu? pdu;
        try
        {
            pdu = read.GetAwaiter().GetResult();
        }
        catch (Exception e)
        {
            receiver.OnReceiveEnded(e);
            return;
        }
        if (pdu is null)
        {
            receiver.OnReceiveEnded(null);
            return;
        }
        Deliver(receiver, pdu);
        Pump();
    }

    /// <summary>What a receive thread reports when its reads end: a socket closed by <see cref="TerminateAsync"/> says why.</summary>
    internal Exception ReceiveError(Exception e) =>
        e is ObjectDisposedException && Volatile.Read(ref _terminated) != 0 ? new DatamoverException($"Connection terminated: {_terminateReason}") : e;

    /// <summary>True when a whole BHS is already buffered: the next read will not wait.</summary>
    internal bool HasBufferedHeader => Reader.HasBufferedHeader;

    /// <summary>
    /// Hands one PDU to the receiver with the writer corked: PDUs this thread queues meanwhile (an inline continuation's
    /// next command) wait until the PDUs already read are dispatched, and then leave in one send.
    /// </summary>
    internal void Deliver(IPduReceiver receiver, Pdu pdu)
    {
        // A connection terminated meanwhile (the core or a test found it dead) delivers nothing more: its tasks were let
        // go, so a Data-In read after that point was skipped, and passing its header up (status included) would
        // complete a read whose data never landed. The commands are recovered on another connection.
        if (Volatile.Read(ref _terminated) != 0)
        {
            PduPool.Return(pdu);
            return;
        }
        Writer.Cork();
        try
        {
            receiver.OnPduReceived(pdu);
        }
        finally
        {
            Writer.Uncork(flush: !Reader.HasBufferedHeader);
        }
    }

    public void NoticeKeyValues(ConnectionParameters parameters) => Parameters = parameters;

    /// <summary>Says in the log that the reader discarded a PDU for its header digest (ERL 1 and up).</summary>
    private protected void ReportDiscardedHeader()
    {
        if (Reader.TakeDiscardNotice() is { } notice) Logger.LogWarning("{Remote}: {Notice}", RemoteEndPoint, notice);
    }

    public virtual void EnableDatamover(IDatamoverHost host)
    {
        // Digests start with the first PDU after the final login response (RFC 7143 §13.1).
        Writer.Host = host;
        Writer.HeaderDigest = Reader.HeaderDigest = Parameters.HeaderDigest;
        Writer.DataDigest = Reader.DataDigest = Parameters.DataDigest;
        Reader.DiscardCorruptHeaders = Parameters.ErrorRecoveryLevel >= 1;
        Reader.Grow(); // authenticated now: the full-size receive buffer
        FullFeature = true;
    }

    public async ValueTask TerminateAsync(string reason)
    {
        if (Interlocked.Exchange(ref _terminated, 1) != 0) return;
        _terminateReason = reason; // before the socket closes, so a polling reader that sees it closed can say why
        Logger.LogDebug("Terminating TCP connection {Remote}: {Reason}", RemoteEndPoint, reason);
        OnTerminating(new DatamoverException($"Connection terminated: {reason}"));
        try
        {
            var drain = Writer.CompleteAsync();
            await Task.WhenAny(drain, Task.Delay(2000)).ConfigureAwait(false);
            Socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
        var closed = new DatamoverException($"Connection terminated: {reason}");
        _writable?.Stop();
        _receiveThread?.Stop(closed);
        Socket.Dispose();
    }

    private protected virtual void OnTerminating(Exception reason) { }

    public async ValueTask DisposeAsync()
    {
        await TerminateAsync("disposed").ConfigureAwait(false);
        GC.SuppressFinalize(this);
    }
}
