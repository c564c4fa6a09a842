using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using Iser.Transport.Iser.Memory;
using Iser.Transport.Iser.Verbs;
using Xunit.Abstractions;

namespace Iser.Tests.Verbs;

/// <summary>
/// RC connections between this process and a separate one (tests/Iser.LabPeer) on the lab's rxe
/// device: the peer listening or connecting, its buffer's keys in the CM private data, SEND/RECV,
/// RDMA WRITE and READ into the other process's memory, and what the survivor sees when the peer
/// is killed.
/// </summary>
[Trait("Category", "Lab")]
public sealed class CrossProcessLabTests(ITestOutputHelper output)
{
    // Mirrors tests/Iser.LabPeer/PeerProtocol.cs.
    private const int PeerBufferLength = 64 * 1024;
    private const int PeerPatternOffset = PeerBufferLength / 2;
    private const uint EchoBufferCommand = 1;
    private const uint ByeCommand = 2;

    private const int BlockSize = 64 * 1024;

    private static readonly RdmaConnectionOptions Options = new()
    {
        Capacities = new QueuePairCapacities(MaxSendWorkRequests: 16, MaxReceiveWorkRequests: 16, MaxSendSge: 1, MaxReceiveSge: 1),
        TimeoutMs = 60_000,
        AckTimeout = 16, // 4.096 µs × 2^16 ≈ 268 ms per try
        RetryCount = 3,
    };

    private readonly record struct PeerBuffer(ulong Address, uint Rkey, int Length)
    {
        public static PeerBuffer Parse(byte[] privateData) => new(
            BinaryPrimitives.ReadUInt64LittleEndian(privateData),
            BinaryPrimitives.ReadUInt32LittleEndian(privateData.AsSpan(8)),
            (int)BinaryPrimitives.ReadUInt32LittleEndian(privateData.AsSpan(12)));
    }

    [LabFact]
    public void PeerProcessListeningServesSendWriteAndReadThenDisconnects()
    {
        using LabPeerProcess peer = LabPeerProcess.Start("listen", LabEnvironment.Address.ToString());
        int port = int.Parse(peer.WaitForLine("LISTENING"));
        using RdmaConnection connection = RdmaConnection.Connect(new IPEndPoint(LabEnvironment.Address, port), "test"u8, Options);
        peer.WaitForLine("ESTABLISHED");

        PeerBuffer remote = PeerBuffer.Parse(connection.PeerPrivateData);
        Assert.Equal(PeerBufferLength, remote.Length);
        ExerciseAndSayBye(connection, remote, peer);
    }

    [LabFact]
    public void PeerProcessConnectingServesSendWriteAndReadThenDisconnects()
    {
        using RdmaListener listener = RdmaListener.Start(new IPEndPoint(LabEnvironment.Address, 0));
        using LabPeerProcess peer = LabPeerProcess.Start("connect", LabEnvironment.Address.ToString(), listener.LocalEndPoint.Port.ToString());
        RdmaConnectRequest request = listener.GetConnectRequest(60_000)
            ?? throw new TimeoutException($"The lab peer did not connect within 60 s. Its stderr: {peer.ErrorOutput}");
        PeerBuffer remote;
        RdmaConnection connection;
        using (request)
        {
            remote = PeerBuffer.Parse(request.PrivateData);
            connection = request.Accept("test"u8, Options);
        }

        using (connection)
        {
            peer.WaitForLine("ESTABLISHED");
            Assert.Equal(PeerBufferLength, remote.Length);
            ExerciseAndSayBye(connection, remote, peer);
        }
    }

    [LabFact]
    public void KilledPeerProcessSurfacesAsAnErrorCompletionWithinSeconds()
    {
        using LabPeerProcess peer = LabPeerProcess.Start("listen", LabEnvironment.Address.ToString());
        int port = int.Parse(peer.WaitForLine("LISTENING"));
        using RdmaConnection connection = RdmaConnection.Connect(new IPEndPoint(LabEnvironment.Address, port), "test"u8, Options);
        peer.WaitForLine("ESTABLISHED");
        PeerBuffer remote = PeerBuffer.Parse(connection.PeerPrivateData);
        using RegisteredBufferPool pool = new(connection.ProtectionDomain, BlockSize, blocksPerSlab: 3);
        Blocks blocks = new(pool.Rent(), pool.Rent(), pool.Rent());

        // The connection works: one echo round trip.
        LabEnvironment.Pattern(512, 9).CopyTo(blocks.Source.Span);
        RdmaWrite(connection, blocks.Source, 512, remote.Address, remote.Rkey);
        Assert.Equal(blocks.Source.Span[..512].ToArray(), Echo(connection, blocks, 512));

        // SIGKILL the peer mid-connection, then use the connection: a receive stays posted and an RDMA WRITE goes out.
        connection.QueuePair.PostReceive(50, [blocks.Reply.Sge(BlockSize)]).ThrowIfFailed("post receive");
        peer.KillHard();
        Stopwatch sinceKill = Stopwatch.StartNew();
        connection.QueuePair.PostSend(51, SendOpcode.RdmaWrite, [blocks.Source.Sge(4096)], SendFlags.Signaled, remote.Address, remote.Rkey)
            .ThrowIfFailed("post RDMA WRITE to the dead peer");

        IbvWc? writeDone = null;
        RdmaCmEvent? cmEvent = null;
        TimeSpan writeAt = default, eventAt = default;
        Span<IbvWc> wc = stackalloc IbvWc[4];
        // Watch both until the WRITE completed and the CM spoke, or 60 s; the CM gets 10 s more than the WRITE.
        while ((writeDone is null || cmEvent is null) && sinceKill.Elapsed < TimeSpan.FromSeconds(60)
            && (writeDone is null || sinceKill.Elapsed - writeAt < TimeSpan.FromSeconds(10)))
        {
            int n = connection.CompletionQueue.Poll(wc);
            for (int i = 0; i < n; i++)
            {
                if (wc[i].WrId == 51)
                {
                    writeDone = wc[i];
                    writeAt = sinceKill.Elapsed;
                }
            }

            if (cmEvent is null && connection.WaitForEvent(10) is RdmaCmEvent evt)
            {
                cmEvent = evt;
                eventAt = sinceKill.Elapsed;
            }
        }

        output.WriteLine($"after SIGKILL: CM event {cmEvent?.ToString() ?? "none"} at {eventAt.TotalMilliseconds:F0} ms; " +
            $"RDMA WRITE completion {writeDone?.StatusText ?? "none"} at {writeAt.TotalMilliseconds:F0} ms");
        Assert.True(writeDone is not null, $"the RDMA WRITE to the killed peer never completed within 60 s (CM event: {cmEvent?.ToString() ?? "none"})");
        IbvWc failed = writeDone.Value;
        Assert.False(failed.IsSuccess, "an RDMA WRITE into a killed process's memory completed successfully");
        Assert.Contains(failed.Status, new[] { WorkCompletionStatus.RetryExcErr, WorkCompletionStatus.WrFlushErr });
        Assert.InRange(writeAt, TimeSpan.Zero, TimeSpan.FromSeconds(30));
        if (cmEvent is not null)
        {
            Assert.Contains(cmEvent.Type, new[] { RdmaCmEventType.Disconnected, RdmaCmEventType.TimewaitExit });
        }
    }

    private readonly record struct Blocks(RegisteredBlock Source, RegisteredBlock Command, RegisteredBlock Reply);

    /// <summary>WRITE into the peer, ask it to SEND back what it holds, READ its pattern, then BYE.</summary>
    private static void ExerciseAndSayBye(RdmaConnection connection, PeerBuffer remote, LabPeerProcess peer)
    {
        using RegisteredBufferPool pool = new(connection.ProtectionDomain, BlockSize, blocksPerSlab: 3);
        Blocks blocks = new(pool.Rent(), pool.Rent(), pool.Rent());

        // RDMA WRITE into the other process's buffer; it proves receipt by sending the bytes back.
        byte[] written = LabEnvironment.Pattern(8192, 4);
        written.CopyTo(blocks.Source.Span);
        RdmaWrite(connection, blocks.Source, written.Length, remote.Address, remote.Rkey);
        Assert.Equal(written, Echo(connection, blocks, written.Length));

        // RDMA READ the pattern the peer put in its buffer's second half.
        int readLength = 16 * 1024;
        connection.QueuePair.PostSend(3, SendOpcode.RdmaRead, [blocks.Reply.Sge(readLength)], SendFlags.Signaled, remote.Address + PeerPatternOffset, remote.Rkey)
            .ThrowIfFailed("post RDMA READ");
        IbvWc read = Assert.Single(LabEnvironment.WaitForCompletions(connection.CompletionQueue, 1, 30_000));
        Assert.True(read.IsSuccess, read.StatusText);
        Assert.Equal((3UL, WorkCompletionOpcode.RdmaRead, (uint)readLength), (read.WrId, read.Opcode, read.ByteLen));
        byte[] expected = Enumerable.Range(PeerPatternOffset, readLength).Select(i => (byte)(i * 31 + 7)).ToArray();
        Assert.Equal(expected, blocks.Reply.Span[..readLength].ToArray());

        // BYE: the peer disconnects; we see DISCONNECTED and it exits 0.
        Send(connection, blocks.Command, ByeCommand, 0);
        peer.WaitForLine("BYE");
        RdmaCmEvent? disconnected = connection.WaitForEvent(30_000);
        Assert.NotNull(disconnected);
        Assert.Equal(RdmaCmEventType.Disconnected, disconnected.Type);
        Assert.Equal(0, peer.WaitForExitCode());
    }

    private static void RdmaWrite(RdmaConnection connection, RegisteredBlock source, int length, ulong remoteAddress, uint rkey)
    {
        connection.QueuePair.PostSend(2, SendOpcode.RdmaWrite, [source.Sge(length)], SendFlags.Signaled, remoteAddress, rkey)
            .ThrowIfFailed("post RDMA WRITE");
        IbvWc done = Assert.Single(LabEnvironment.WaitForCompletions(connection.CompletionQueue, 1, 30_000));
        Assert.True(done.IsSuccess, done.StatusText);
        Assert.Equal((2UL, WorkCompletionOpcode.RdmaWrite), (done.WrId, done.Opcode));
    }

    /// <summary>Sends ECHO; returns the bytes the peer sent back from its buffer.</summary>
    private static byte[] Echo(RdmaConnection connection, Blocks blocks, int length)
    {
        connection.QueuePair.PostReceive(4, [blocks.Reply.Sge(BlockSize)]).ThrowIfFailed("post receive");
        WriteCommand(blocks.Command, EchoBufferCommand, (uint)length);
        connection.QueuePair.PostSend(1, SendOpcode.Send, [blocks.Command.Sge(8)], SendFlags.Signaled).ThrowIfFailed("post SEND");

        // Our SEND's completion and the peer's reply may be polled in either order.
        List<IbvWc> done = LabEnvironment.WaitForCompletions(connection.CompletionQueue, 2, 30_000);
        Assert.All(done, wc => Assert.True(wc.IsSuccess, wc.StatusText));
        IbvWc sent = Assert.Single(done, wc => wc.WrId == 1);
        IbvWc reply = Assert.Single(done, wc => wc.WrId == 4);
        Assert.Equal(WorkCompletionOpcode.Send, sent.Opcode);
        Assert.Equal((WorkCompletionOpcode.Recv, (uint)length), (reply.Opcode, reply.ByteLen));
        return blocks.Reply.Span[..length].ToArray();
    }

    private static void WriteCommand(RegisteredBlock block, uint command, uint length)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(block.Span, command);
        BinaryPrimitives.WriteUInt32LittleEndian(block.Span[4..], length);
    }

    private static void Send(RdmaConnection connection, RegisteredBlock block, uint command, uint length)
    {
        WriteCommand(block, command, length);
        connection.QueuePair.PostSend(1, SendOpcode.Send, [block.Sge(8)], SendFlags.Signaled).ThrowIfFailed("post SEND");
        IbvWc sent = Assert.Single(LabEnvironment.WaitForCompletions(connection.CompletionQueue, 1, 30_000));
        Assert.True(sent.IsSuccess, sent.StatusText);
        Assert.Equal((1UL, WorkCompletionOpcode.Send), (sent.WrId, sent.Opcode));
    }
}
