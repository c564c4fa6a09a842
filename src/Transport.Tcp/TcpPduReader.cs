using System.Net.Sockets;
using System.Runtime.CompilerServices;
using Iser.Core.Datamover;
using Iser.Core.Iscsi.Pdus;

namespace Iser.Transport.Tcp;

/// <summary>
/// Reads PDUs from a socket through one receive buffer, in two steps so a data segment can land straight in
/// its final place (a task's write buffer) instead of being copied twice.
/// </summary>
internal sealed class TcpPduReader
{
    /// <summary>
    /// Before login completes the peer is unauthenticated and every PDU is at most 8 KiB of data plus its header: the
    /// buffer starts at this size, so each connection that never logs in holds no more than this (plus the socket).
    /// </summary>
    public const int LoginBufferSize = 16 * 1024;
    /// <summary>The buffer in full feature phase: room for many small PDUs per system call.</summary>
    public const int FullFeatureBufferSize = 256 * 1024;

    private readonly Socket _socket;
    private byte[] _buffer;
    private int _start;
    private int _end;
    private volatile int _growTo; // set by Grow, applied by the reading thread at its next header

    public TcpPduReader(Socket socket, int bufferSize = LoginBufferSize)
    {
        _socket = socket;
        _buffer = GC.AllocateUninitializedArray<byte>(bufferSize, pinned: true);
    }

    /// <summary>The buffer becomes <paramref name="size"/> bytes before the next header is read (full feature phase).</summary>
    public void Grow(int size = FullFeatureBufferSize) => _growTo = size;

    private void ApplyGrowth()
    {
        int size = _growTo;
        if (size <= _buffer.Length) return;
        var larger = GC.AllocateUninitializedArray<byte>(size, pinned: true);
        Buffer.BlockCopy(_buffer, _start, larger, 0, _end - _start);
        _end -= _start;
        _start = 0;
        _buffer = larger;
    }

    public bool HeaderDigest { get; set; }
    public bool DataDigest { get; set; }

    /// <summary>
    /// How reads wait for bytes. <see cref="ReadWait.Async"/>: ReceiveAsync, resumed on the thread pool by the runtime's
    /// epoll thread. The others run on the calling thread (one of the connection's own) and complete synchronously, so
    /// no epoll wake-up or thread-pool hop stands between the wire and the receiver: <see cref="ReadWait.Blocking"/>
    /// sleeps in recv(2); <see cref="ReadWait.Spinning"/> spins on a non-blocking read (busy polling).
    /// </summary>
    public ReadWait Wait { get; set; }

    /// <summary>True when a whole BHS is already buffered: the next header read will not touch the socket.</summary>
    public bool HasBufferedHeader => _end - _start >= Pdu.BhsLength;

    /// <summary>
    /// ErrorRecoveryLevel 1 and up: a PDU whose header digest fails is discarded (RFC 7143 §7.8) instead of ending the
    /// connection, trusting its length fields to find the next header; the sequence-number gap it leaves is recovered
    /// by the layers above. If the header after it fails its digest too, the lengths were what broke and the stream
    /// cannot be followed: the connection ends as at level 0.
    /// </summary>
    public bool DiscardCorruptHeaders { get; set; }

    /// <summary>PDUs discarded for a header digest error (see <see cref="DiscardCorruptHeaders"/>).</summary>
    public int DiscardedHeaders { get; private set; }

    /// <summary>The digest error of the last discarded header, for the owner's log; null once read.</summary>
    public string? TakeDiscardNotice()
    {
        var notice = _discardNotice;
        _discardNotice = null;
        return notice;
    }

    private string? _discardNotice;

    /// <summary>Reads BHS, AHS and header digest into <paramref name="pdu"/>. False on a clean close between PDUs.</summary>
    // Pooled state machines: these await the socket on every PDU, so boxing one per call would allocate per I/O.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<bool> ReadHeaderAsync(Pdu pdu, bool receiverIsTarget, int maxRecvDataSegmentLength, CancellationToken ct)
    {
        bool previousCorrupt = false;
        if (_growTo > _buffer.Length) ApplyGrowth();
        while (true)
        {
            if (!await FillAsync(Pdu.BhsLength, allowEof: true, ct).ConfigureAwait(false)) return false;
            int ahsLength = _buffer[_start + 4] * 4;
            int headerLength = Pdu.BhsLength + ahsLength + (HeaderDigest ? PduWireFormat.DigestLength : 0);
            await FillAsync(headerLength, allowEof: false, ct).ConfigureAwait(false);
            var header = _buffer.AsSpan(_start, headerLength);
            if (HeaderDigest)
            {
                int covered = Pdu.BhsLength + ahsLength;
                uint expected = Crc32C.Compute(header[..covered]);
                uint actual = Crc32C.Read(header[covered..]);
                if (expected != actual)
                {
                    int dsl = (header[5] << 16) | (header[6] << 8) | header[7];
                    if (!DiscardCorruptHeaders || previousCorrupt || dsl > maxRecvDataSegmentLength)
                        throw new PduFormatException(
                            $"Header digest error: received 0x{actual:x8}, computed 0x{expected:x8}; the stream cannot be resynchronised, closing the connection.",
                            recoverable: false, header[..Pdu.BhsLength].ToArray());
                    _discardNotice = $"Header digest error: received 0x{actual:x8}, computed 0x{expected:x8}; the PDU ({dsl} data bytes) was discarded.";
                    DiscardedHeaders++;
                    previousCorrupt = true;
                    _start += headerLength;
                    await SkipDataAsync(dsl, ct).ConfigureAwait(false);
                    continue;
                }
            }
            PduWireFormat.ValidateReceivedHeader(header[..Pdu.BhsLength], receiverIsTarget, maxRecvDataSegmentLength);
            header[..Pdu.BhsLength].CopyTo(pdu.Bhs);
            pdu.Ahs = ahsLength == 0 ? default : header.Slice(Pdu.BhsLength, ahsLength).ToArray();
            _start += headerLength;
            return true;
        }
    }

    /// <summary>
    /// Reads the data segment announced by the last header into <paramref name="destination"/> (exactly its length),
    /// then padding and digest. A data digest mismatch throws a recoverable <see cref="PduFormatException"/> after the
    /// whole PDU has been consumed, so the stream stays in step.
    /// </summary>
    // Pooled state machines: these await the socket on every PDU, so boxing one per call would allocate per I/O.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask ReadDataAsync(Memory<byte> destination, CancellationToken ct)
    {
        int length = destination.Length;
        if (length == 0) return;
        int fromBuffer = Math.Min(length, _end - _start);
        _buffer.AsSpan(_start, fromBuffer).CopyTo(destination.Span);
        _start += fromBuffer;
        int copied = fromBuffer;
        // Large remainders go straight from the socket into the destination.
        while (length - copied >= _buffer.Length / 4)
        {
            int n;
            try
            {
                n = await ReceiveAsync(destination[copied..], ct).ConfigureAwait(false);
            }
            catch (SocketException e)
            {
                // As in FillAsync: a reset peer is a lost connection, not an internal error of whoever reads.
                throw new DatamoverException($"Connection lost while reading: {e.Message}", e);
            }
            if (n == 0) throw new DatamoverException("Connection closed by peer in the middle of a data segment.");
            copied += n;
        }
        if (copied < length)
        {
            await FillAsync(length - copied, allowEof: false, ct).ConfigureAwait(false);
            _buffer.AsSpan(_start, length - copied).CopyTo(destination.Span[copied..]);
            _start += length - copied;
        }
        int trailer = PduWireFormat.Pad(length) - length + (DataDigest ? PduWireFormat.DigestLength : 0);
        if (trailer == 0) return;
        await FillAsync(trailer, allowEof: false, ct).ConfigureAwait(false);
        if (DataDigest)
        {
            uint expected = PduWireFormat.DataDigest(destination.Span);
            uint actual = Crc32C.Read(_buffer.AsSpan(_start + trailer - PduWireFormat.DigestLength));
            _start += trailer;
            if (expected != actual)
                throw new PduFormatException($"Data digest error: received 0x{actual:x8}, computed 0x{expected:x8}.", recoverable: true);
            return;
        }
        _start += trailer;
    }

    /// <summary>Skips a data segment nobody wants (e.g. data for an aborted task).</summary>
    // Pooled state machines: these await the socket on every PDU, so boxing one per call would allocate per I/O.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask SkipDataAsync(int length, CancellationToken ct)
    {
        if (length == 0) return;
        int total = PduWireFormat.DataLength(length, DataDigest);
        while (total > 0)
        {
            if (_start == _end) await FillAsync(1, allowEof: false, ct).ConfigureAwait(false);
            int n = Math.Min(total, _end - _start);
            _start += n;
            total -= n;
        }
    }

    // Pooled state machines: these await the socket on every PDU, so boxing one per call would allocate per I/O.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<bool> FillAsync(int needed, bool allowEof, CancellationToken ct)
    {
        if (_end - _start >= needed) return true;
        if (_start > 0)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }
        while (_end < needed)
        {
            int n;
            try
            {
                n = await ReceiveAsync(_buffer.AsMemory(_end), ct).ConfigureAwait(false);
            }
            catch (SocketException e)
            {
                throw new DatamoverException($"Connection lost while reading: {e.Message}", e);
            }
            if (n == 0)
            {
                if (allowEof && _end == 0) return false;
                throw new DatamoverException($"Connection closed by peer in the middle of a PDU ({_end} of {needed} bytes read).");
            }
            _end += n;
        }
        return true;
    }

    private ValueTask<int> ReceiveAsync(Memory<byte> destination, CancellationToken ct) => Wait switch
    {
        ReadWait.Blocking => ValueTask.FromResult(SocketSyscalls.Receive(_socket.SafeHandle, destination.Span, dontWait: false)),
        ReadWait.Spinning => ValueTask.FromResult(ReceiveSpinning(destination.Span)),
        _ => _socket.ReceiveAsync(destination, SocketFlags.None, ct),
    };

    private int ReceiveSpinning(Span<byte> destination)
    {
        var spinner = new SpinWait();
        while (true)
        {
            int n;
            if (SocketSyscalls.IsSupported)
            {
                n = SocketSyscalls.Receive(_socket.SafeHandle, destination, dontWait: true);
            }
            else
            {
                n = _socket.Receive(destination, SocketFlags.None, out SocketError error);
                if (error == SocketError.WouldBlock) n = -1;
                else if (error != SocketError.Success) throw new SocketException((int)error);
            }
            if (n >= 0) return n;
            // Yield to other runnable threads now and then, never sleep: a sleep would cost the latency polling buys.
            spinner.SpinOnce(sleep1Threshold: -1);
        }
    }
}

/// <summary>How a <see cref="TcpPduReader"/> waits for bytes.</summary>
internal enum ReadWait
{
    /// <summary>ReceiveAsync: the runtime's epoll thread wakes a pool worker when bytes arrive.</summary>
    Async,
    /// <summary>recv(2) blocking on the calling thread, the connection's own (Linux).</summary>
    Blocking,
    /// <summary>A non-blocking read in a loop on the calling thread, the connection's own: one core kept busy.</summary>
    Spinning,
}
