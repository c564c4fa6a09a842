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

    private protected TcpDatamoverConnection(Socket socket, ILogger logger)
    {
        Socket = socket;
        Logger = logger;
        socket.NoDelay = true;
        LocalEndPoint = socket.LocalEndPoint?.ToString() ?? "?";
        RemoteEndPoint = socket.RemoteEndPoint?.ToString() ?? "?";
        Reader = new TcpPduReader(socket);
        Writer = new TcpPduWriter(socket, logger);
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

    public abstract ValueTask<Pdu?> ReceiveControlAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Push delivery. By default reads complete on the thread pool (the runtime's socket engine wakes a worker for each
    /// readable socket) and each PDU goes to the receiver on that worker; once a read finds the socket empty, the next
    /// read is left pending (it completes on another worker) and this worker, free, tells the receiver so
    /// (<see cref="IPduReceiver.OnReceiveIdle"/>), which may run its callers' continuations on it. With
    /// <paramref name="busyPoll"/> a thread of this connection's own reads the socket directly and spins on it
    /// (<see cref="TcpPduReader.BusyPoll"/>): a response is handled the moment it lands, with no epoll wake-up and no
    /// thread-pool hop, and one core stays busy until the connection closes.
    /// (A receive thread sleeping in poll(2) instead measured no better than the async loop: the socket stays
    /// registered with the runtime's epoll thread, which wakes for every segment either way; bench/README.md.)
    /// </summary>
    public void StartReceiving(IPduReceiver receiver, bool busyPoll = false)
    {
        if (!busyPoll)
        {
            _pushReceiver = receiver;
            _resumePush = ResumePush;
            ThreadPool.UnsafeQueueUserWorkItem(static self => self.Pump(), this, preferLocal: false);
            return;
        }
        Socket.Blocking = false;
        Reader.BusyPoll = true;
        new Thread(() => ReceiveLoop(receiver)) { IsBackground = true, Name = $"iscsi-tcp-poll {RemoteEndPoint}" }.Start();
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
                var read = ReceiveControlAsync();
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

    private void ReceiveLoop(IPduReceiver receiver)
    {
        Exception? error = null;
        try
        {
            while (true)
            {
                // Every read spins until its bytes are there, so the ValueTask has always completed by now.
                var pending = ReceiveControlAsync();
                var pdu = pending.IsCompleted ? pending.Result : pending.AsTask().GetAwaiter().GetResult();
                if (pdu is null) break;
                Deliver(receiver, pdu);
                if (!Reader.HasBufferedHeader) receiver.OnReceiveIdle(threadFree: false);
            }
        }
        catch (Exception e)
        {
            error = e is ObjectDisposedException && Volatile.Read(ref _terminated) != 0
                ? new DatamoverException($"Connection terminated: {_terminateReason}") : e;
        }
        receiver.OnReceiveEnded(error);
    }

    /// <summary>
    /// Hands one PDU to the receiver with the writer corked: PDUs this thread queues meanwhile (an inline continuation's
    /// next command) wait until the PDUs already read are dispatched, and then leave in one send.
    /// </summary>
    private void Deliver(IPduReceiver receiver, Pdu pdu)
    {
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
        Socket.Dispose();
    }

    private protected virtual void OnTerminating(Exception reason) { }

    public async ValueTask DisposeAsync()
    {
        await TerminateAsync("disposed").ConfigureAwait(false);
        GC.SuppressFinalize(this);
    }
}
