using System.Net.Sockets;
using System.Threading.Channels;
using Iser.Core.Datamover;
using Iser.Core.Iscsi.Pdus;
using Microsoft.Extensions.Logging;

namespace Iser.Transport.Tcp;

/// <summary>
/// The one writer of a socket. Producers enqueue PDUs; this loop stamps sequence numbers in wire order
/// (<see cref="IDatamoverHost.OnSending"/>), coalesces what is queued into one send, and then tells each PDU's
/// owner it was sent and returns the PDU to the pool. Only one PDU is ever being framed at a time, so nothing
/// interleaves on the wire and no lock is held across a send.
/// </summary>
internal sealed class TcpPduWriter
{
    private const int CoalesceLimit = 128 * 1024;
    private readonly Socket _socket;
    private readonly ILogger _logger;
    private readonly Channel<Pdu> _queue = Channel.CreateUnbounded<Pdu>(new UnboundedChannelOptions { SingleReader = true });
    private readonly byte[] _buffer = GC.AllocateUninitializedArray<byte>(CoalesceLimit + 4096, pinned: true);
    private readonly List<Pdu> _inFlight = new(64);
    private readonly Task _loop;
    private Exception? _failure;

    public TcpPduWriter(Socket socket, ILogger logger)
    {
        _socket = socket;
        _logger = logger;
        _loop = Task.Run(RunAsync);
    }

    public IDatamoverHost? Host { get; set; }
    public bool HeaderDigest { get; set; }
    public bool DataDigest { get; set; }

    /// <summary>Hands the PDU to the writer; the writer owns it from here (it is returned to <see cref="PduPool"/>).</summary>
    public void Enqueue(Pdu pdu)
    {
        if (_failure is not null || !_queue.Writer.TryWrite(pdu))
        {
            var error = _failure ?? new DatamoverException("Connection is closed; PDU not sent.");
            pdu.SentNotification?.OnPduSent(pdu, error);
            PduPool.Return(pdu);
            throw error is DatamoverException d ? d : new DatamoverException(error.Message, error);
        }
    }

    /// <summary>Stops accepting PDUs and waits until everything queued is on the wire (or failed).</summary>
    public async Task CompleteAsync()
    {
        _queue.Writer.TryComplete();
        await _loop.ConfigureAwait(false);
    }

    private async Task RunAsync()
    {
        var reader = _queue.Reader;
        try
        {
            while (await reader.WaitToReadAsync().ConfigureAwait(false))
            {
                int used = 0;
                while (reader.TryRead(out var pdu))
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
            }
        }
        catch (Exception e)
        {
            _failure = e is DatamoverException ? e : new DatamoverException($"Connection lost while writing: {e.Message}", e);
            _logger.LogDebug(e, "PDU writer stopped");
            _queue.Writer.TryComplete();
            FailInFlight(_failure);
            while (reader.TryRead(out var left))
            {
                left.SentNotification?.OnPduSent(left, _failure);
                PduPool.Return(left);
            }
        }
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

    private async ValueTask SendAsync(ReadOnlyMemory<byte> data)
    {
        while (!data.IsEmpty)
        {
            int n = await _socket.SendAsync(data, SocketFlags.None).ConfigureAwait(false);
            data = data[n..];
        }
    }
}
