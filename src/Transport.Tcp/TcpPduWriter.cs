using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using Iser.Core.Datamover;
using Iser.Core.Iscsi.Pdus;
using Microsoft.Extensions.Logging;

namespace Iser.Transport.Tcp;

/// <summary>
/// The one writer of a socket. Producers enqueue PDUs; whichever producer finds the writer idle becomes the drainer
/// and writes everything queued (so a lone PDU goes out on the producer's own thread, with no hand-off), while PDUs
/// queued meanwhile by others are coalesced into the same send. Sequence numbers are stamped in wire order
/// (<see cref="IDatamoverHost.OnSending"/>); after the send each PDU's owner is told and the PDU goes back to the pool.
/// Only the drainer frames PDUs, so nothing interleaves on the wire and no lock is held across a send.
/// </summary>
internal sealed class TcpPduWriter
{
    private const int CoalesceLimit = CoalescingBufferPool.CoalesceLimit;
    private readonly Socket _socket;
    private readonly ILogger _logger;
    private readonly ConcurrentQueue<Pdu> _queue = new();
    // Held only while draining (rented from the process's pool): idle connections keep no send buffer.
    private byte[] _buffer = Array.Empty<byte>();
    private readonly List<Pdu> _inFlight = new(64);
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _draining;
    // The writer whose PDUs this thread holds back while it dispatches received PDUs (see Cork).
    [ThreadStatic] private static TcpPduWriter? t_corked;
    private volatile bool _completing;
    private Exception? _failure;

    // Set when sends go straight to send(2) and never wait (a connection with a receive thread of its own); null: the
    // runtime's SendAsync.
    private readonly SocketWritableWaiter? _writable;

    public TcpPduWriter(Socket socket, ILogger logger, SocketWritableWaiter? directSends = null)
    {
        _socket = socket;
        _logger = logger;
        _writable = directSends;
    }

    public IDatamoverHost? Host { get; set; }
    public bool HeaderDigest { get; set; }
    public bool DataDigest { get; set; }

    /// <summary>Hands the PDU to the writer; the writer owns it from here (it is returned to <see cref="PduPool"/>).</summary>
    public void Enqueue(Pdu pdu)
    {
        if (_failure is not null || _completing)
        {
            var error = _failure ?? new DatamoverException("Connection is closed; PDU not sent.");
            pdu.SentNotification?.OnPduSent(pdu, error);
            PduPool.Return(pdu);
            throw error as DatamoverException ?? new DatamoverException(error.Message, error);
        }
        _queue.Enqueue(pdu);
        if (ReferenceEquals(t_corked, this)) return; // Uncork sends it, with whatever else the batch queues
        if (Interlocked.CompareExchange(ref _draining, 1, 0) == 0) _ = DrainAsync();
    }

    /// <summary>
    /// The receive thread is about to dispatch a received PDU: what this thread enqueues meanwhile (an inline
    /// continuation's next command) waits, so the commands answered by one read leave in one send. PDUs from other
    /// threads are not held. Pair with <see cref="Uncork"/>.
    /// </summary>
    public void Cork() => t_corked = this;

    /// <summary>Ends <see cref="Cork"/>; with <paramref name="flush"/> (the next read will wait on the socket) what was held goes out.</summary>
    public void Uncork(bool flush)
    {
        t_corked = null;
        if (flush && !_queue.IsEmpty && Interlocked.CompareExchange(ref _draining, 1, 0) == 0) _ = DrainAsync();
    }

    /// <summary>Sends whatever is queued now, whichever thread corked it (one that is stuck must not hold others' PDUs).</summary>
    public void Flush()
    {
        if (!_queue.IsEmpty && Interlocked.CompareExchange(ref _draining, 1, 0) == 0) _ = DrainAsync();
    }

    /// <summary>Stops accepting PDUs and waits until everything queued is on the wire (or failed).</summary>
    public async Task CompleteAsync()
    {
        _completing = true;
        if (Interlocked.CompareExchange(ref _draining, 1, 0) == 0) _ = DrainAsync();
        await _drained.Task.ConfigureAwait(false);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask DrainAsync()
    {
        try
        {
            while (true)
            {
                int used = 0;
                _buffer = CoalescingBufferPool.Rent();
                while (_queue.TryDequeue(out var pdu))
                {
                    Host?.OnSending(pdu);
                    int header = PduWireFormat.HeaderLength(pdu, HeaderDigest);
                    int data = PduWireFormat.DataLength(pdu.Data.Length, DataDigest);
                    if (used + header + data <= _buffer.Length)
                    {
                        used += PduWireFormat.WriteHeader(pdu, _buffer.AsSpan(used), HeaderDigest);
                        used += PduWireFormat.WriteData(pdu.Data.Span, _buffer.AsSpan(used), DataDigest);
                        _inFlight.Add(pdu);
                        if (used >= CoalesceLimit) used = await FlushAsync(used).ConfigureAwait(false);
                        continue;
                    }
                    // Too big to coalesce: flush what is pending, then header and data without copying the data.
                    used = await FlushAsync(used).ConfigureAwait(false);
                    used = PduWireFormat.WriteHeader(pdu, _buffer, HeaderDigest);
                    _inFlight.Add(pdu);
                    await SendAsync(_buffer.AsMemory(0, used)).ConfigureAwait(false);
                    used = 0;
                    if (pdu.Data.Length > 0)
                    {
                        await SendAsync(pdu.Data).ConfigureAwait(false);
                        int pad = PduWireFormat.Pad(pdu.Data.Length) - pdu.Data.Length;
                        _buffer.AsSpan(0, pad).Clear();
                        used = pad;
                        if (DataDigest)
                        {
                            Crc32C.Write(_buffer.AsSpan(used), PduWireFormat.DataDigest(pdu.Data.Span));
                            used += PduWireFormat.DigestLength;
                        }
                    }
                }
                await FlushAsync(used).ConfigureAwait(false);
                ReturnBuffer();
                Volatile.Write(ref _draining, 0);
                // A producer may have enqueued after our last look but before we let go: take the job back.
                if (_queue.IsEmpty || Interlocked.CompareExchange(ref _draining, 1, 0) != 0) break;
            }
            if (_completing && _queue.IsEmpty) _drained.TrySetResult();
        }
        catch (Exception e)
        {
            _failure = e is DatamoverException ? e : new DatamoverException($"Connection lost while writing: {e.Message}", e);
            _logger.LogDebug(e, "PDU writer stopped");
            FailInFlight(_failure);
            ReturnBuffer(); // every send on it has ended (completed or failed)
            while (_queue.TryDequeue(out var left))
            {
                left.SentNotification?.OnPduSent(left, _failure);
                PduPool.Return(left);
            }
            _drained.TrySetResult();
        }
    }

    private void ReturnBuffer()
    {
        if (_buffer.Length == 0) return;
        CoalescingBufferPool.Return(_buffer);
        _buffer = Array.Empty<byte>();
    }

    private async ValueTask<int> FlushAsync(int used)
    {
        if (used > 0) await SendAsync(_buffer.AsMemory(0, used)).ConfigureAwait(false);
        foreach (var pdu in _inFlight)
        {
            pdu.SentNotification?.OnPduSent(pdu, null);
            PduPool.Return(pdu);
        }
        _inFlight.Clear();
        return 0;
    }

    private void FailInFlight(Exception error)
    {
        foreach (var pdu in _inFlight)
        {
            pdu.SentNotification?.OnPduSent(pdu, error);
            PduPool.Return(pdu);
        }
        _inFlight.Clear();
    }

    private ValueTask SendAsync(ReadOnlyMemory<byte> data)
    {
        if (_writable is null) return SendThroughRuntimeAsync(data);
        while (!data.IsEmpty)
        {
            int n = SocketSyscalls.TrySend(_socket.SafeHandle, data.Span);
            if (n < 0) return SendWhenWritableAsync(data);
            data = data[n..];
        }
        return ValueTask.CompletedTask;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask SendWhenWritableAsync(ReadOnlyMemory<byte> data)
    {
        while (!data.IsEmpty)
        {
            await _writable!.WaitAsync().ConfigureAwait(false);
            int n;
            while (!data.IsEmpty && (n = SocketSyscalls.TrySend(_socket.SafeHandle, data.Span)) >= 0) data = data[n..];
        }
    }

    private async ValueTask SendThroughRuntimeAsync(ReadOnlyMemory<byte> data)
    {
        while (!data.IsEmpty)
        {
            int n = await _socket.SendAsync(data, SocketFlags.None).ConfigureAwait(false);
            data = data[n..];
        }
    }
}
