using System.Buffers.Binary;
using Iser.Transport.Iser.Memory;
using Iser.Transport.Iser.Verbs;

namespace Iser.LabPeer;

/// <summary>
/// The peer's registered memory and its command loop on one connection: one receive always posted,
/// each command answered, until BYE or the connection ends.
/// </summary>
internal sealed class PeerSession : IDisposable
{
    private const ulong ReceiveWrId = 1;
    private const ulong ReplyWrId = 2;

    private readonly RegisteredBufferPool _pool;
    private readonly RegisteredBlock _buffer;
    private readonly RegisteredBlock _receive;

    /// <summary>Registers the buffer (second half patterned) and a receive block in <paramref name="pd"/>.</summary>
    public PeerSession(ProtectionDomain pd)
    {
        _pool = new RegisteredBufferPool(pd, PeerProtocol.BufferLength, blocksPerSlab: 2);
        _buffer = _pool.Rent();
        _receive = _pool.Rent();
        Span<byte> buffer = _buffer.Span;
        buffer[..PeerProtocol.PatternOffset].Clear();
        for (int i = PeerProtocol.PatternOffset; i < PeerProtocol.BufferLength; i++)
        {
            buffer[i] = PeerProtocol.PatternByte(i);
        }
    }

    /// <summary>The CM private data that tells the other side where the buffer is.</summary>
    public byte[] PrivateData()
    {
        byte[] data = new byte[PeerProtocol.PrivateDataLength];
        BinaryPrimitives.WriteUInt64LittleEndian(data, _buffer.Address);
        BinaryPrimitives.WriteUInt32LittleEndian(data.AsSpan(8), _buffer.Rkey);
        BinaryPrimitives.WriteUInt32LittleEndian(data.AsSpan(12), PeerProtocol.BufferLength);
        return data;
    }

    /// <summary>Posts the first receive; must happen before the other side can SEND.</summary>
    public void PostReceive(QueuePair qp) =>
        qp.PostReceive(ReceiveWrId, [_receive.Sge(PeerProtocol.CommandLength)]).ThrowIfFailed("post receive");

    /// <summary>Answers commands until BYE (returns 0) or a failed completion (returns 1).</summary>
    public int Serve(RdmaConnection connection)
    {
        Span<IbvWc> wc = stackalloc IbvWc[4];
        while (true)
        {
            int n = connection.CompletionQueue.Poll(wc);
            if (n == 0)
            {
                Thread.Sleep(1);
                continue;
            }

            for (int i = 0; i < n; i++)
            {
                if (!wc[i].IsSuccess)
                {
                    Console.Error.WriteLine($"peer: work request {wc[i].WrId} failed: {wc[i].StatusText}");
                    return 1;
                }

                if (wc[i].WrId != ReceiveWrId)
                {
                    continue;
                }

                uint command = BinaryPrimitives.ReadUInt32LittleEndian(_receive.Span);
                int length = (int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(_receive.Span[4..]), PeerProtocol.BufferLength);
                if (command == PeerProtocol.Bye)
                {
                    Console.WriteLine("BYE");
                    connection.Disconnect();
                    return 0;
                }

                PostReceive(connection.QueuePair);
                if (command == PeerProtocol.EchoBuffer)
                {
                    connection.QueuePair.PostSend(ReplyWrId, SendOpcode.Send, [_buffer.Sge(length)], SendFlags.Signaled)
                        .ThrowIfFailed("post the echo SEND");
                }
            }
        }
    }

    public void Dispose() => _pool.Dispose();
}
