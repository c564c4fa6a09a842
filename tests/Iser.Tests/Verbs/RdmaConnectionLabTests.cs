using System.Collections.Concurrent;
using System.Net;
using System.Text;
using Iser.Transport.Iser.Memory;
using Iser.Transport.Iser.Verbs;

namespace Iser.Tests.Verbs;

/// <summary>
/// Two RC queue pairs connected through rdma_cm on the lab's rxe device, listener and client in
/// this one process on the same address: private data both ways, SEND/RECV, RDMA WRITE and READ
/// with the peer's keys, completion events through the channel, partial posts, errors, flushes.
/// </summary>
[Trait("Category", "Lab")]
public sealed class RdmaConnectionLabTests
{
    private const int BlockSize = 4096;

    private static readonly RdmaConnectionOptions Options = new()
    {
        Capacities = new QueuePairCapacities(MaxSendWorkRequests: 32, MaxReceiveWorkRequests: 32, MaxSendSge: 2, MaxReceiveSge: 1),
        TimeoutMs = 60_000, // generous: connection set-up under TCG on a loaded host can take many seconds
    };

    private sealed class ConnectedPair : IDisposable
    {
        public required RdmaListener Listener { get; init; }
        public required RdmaConnection Server { get; init; }
        public required RdmaConnection Client { get; init; }
        public required byte[] RequestPrivateData { get; init; }

        public void Dispose()
        {
            Client.Dispose();
            Server.Dispose();
            Listener.Dispose();
        }
    }

    private static async Task<ConnectedPair> ConnectAsync(byte[] hello, byte[] welcome)
    {
        RdmaListener listener = RdmaListener.Start(new IPEndPoint(LabEnvironment.Address, 0));
        try
        {
            Assert.NotEqual(0, listener.LocalEndPoint.Port);
            Task<RdmaConnection> client = Task.Run(() => RdmaConnection.Connect(listener.LocalEndPoint, hello, Options));
            using RdmaConnectRequest request = listener.GetConnectRequest(60_000) ?? throw new TimeoutException("no connect request within 60 s");
            byte[] requestData = request.PrivateData;
            RdmaConnection server = request.Accept(welcome, Options);
            return new ConnectedPair { Listener = listener, Server = server, Client = await client, RequestPrivateData = requestData };
        }
        catch
        {
            listener.Dispose();
            throw;
        }
    }

    [LabFact]
    public async Task ConnectedQueuePairsCarryPrivateDataSendWriteReadAndFlushOnDisconnect()
    {
        byte[] hello = Encoding.ASCII.GetBytes("iSER hello from the initiator");
        byte[] welcome = Encoding.ASCII.GetBytes("iSER hello reply");
        using ConnectedPair pair = await ConnectAsync(hello, welcome);
        RdmaConnection server = pair.Server;
        RdmaConnection client = pair.Client;

        // Private data arrives intact (the CM may pad it).
        Assert.Equal(hello, pair.RequestPrivateData.AsSpan(0, hello.Length).ToArray());
        Assert.Equal(hello, server.PeerPrivateData.AsSpan(0, hello.Length).ToArray());
        Assert.Equal(welcome, client.PeerPrivateData.AsSpan(0, welcome.Length).ToArray());
        Assert.Same(server.CompletionQueue, server.QueuePair.ReceiveCompletionQueue);

        using RegisteredBufferPool serverPool = new(server.ProtectionDomain, BlockSize, blocksPerSlab: 8);
        using RegisteredBufferPool clientPool = new(client.ProtectionDomain, BlockSize, blocksPerSlab: 8);
        RegisteredBlock serverRecv = serverPool.Rent(), serverWriteTarget = serverPool.Rent(), serverReadSource = serverPool.Rent();
        RegisteredBlock clientSend = clientPool.Rent(), clientWriteSource = clientPool.Rent(), clientReadTarget = clientPool.Rent();

        // The server takes completions through its completion channel on a poller thread.
        BlockingCollection<IbvWc> serverCompletions = [];
        using CompletionQueuePoller poller = new(server.CompletionQueue, batch =>
        {
            foreach (IbvWc wc in batch)
            {
                serverCompletions.Add(wc);
            }
        });

        // SEND / RECV; sent once the poller has armed the CQ, so the completion must raise an event.
        SpinWait.SpinUntil(() => poller.ArmCount > 0, 30_000);
        Assert.True(poller.ArmCount > 0, "the poller never armed the completion queue");
        server.QueuePair.PostReceive(100, [serverRecv.Sge(BlockSize)]).ThrowIfFailed("post receive");
        byte[] message = LabEnvironment.Pattern(BlockSize, 1);
        message.CopyTo(clientSend.Span);
        Assert.Equal(new PostResult(1, 1, 0), client.QueuePair.PostSend(1, SendOpcode.Send, [clientSend.Sge(BlockSize)], SendFlags.Signaled));
        IbvWc sent = Assert.Single(LabEnvironment.WaitForCompletions(client.CompletionQueue, 1));
        Assert.True(sent.IsSuccess, sent.StatusText);
        Assert.Equal((1UL, WorkCompletionOpcode.Send), (sent.WrId, sent.Opcode));

        Assert.True(serverCompletions.TryTake(out IbvWc received, 30_000), "the server's poller delivered no receive completion");
        Assert.True(received.IsSuccess, received.StatusText);
        Assert.Equal((100UL, WorkCompletionOpcode.Recv, (uint)BlockSize), (received.WrId, received.Opcode, received.ByteLen));
        Assert.Equal(server.QueuePair.QpNumber, received.QpNum);
        Assert.Equal(message, serverRecv.Span.ToArray());
        // The poller may take the completion by polling right after arming; the event still arrives.
        Assert.True(SpinWait.SpinUntil(() => poller.WakeupCount >= 1, 30_000), "the receive completion raised no completion-channel event");
        Assert.Null(poller.Fault);

        // RDMA WRITE into the server's block with its rkey
        byte[] written = LabEnvironment.Pattern(BlockSize, 2);
        written.CopyTo(clientWriteSource.Span);
        client.QueuePair.PostSend(2, SendOpcode.RdmaWrite, [clientWriteSource.Sge(BlockSize)], SendFlags.Signaled, serverWriteTarget.Address, serverWriteTarget.Rkey)
            .ThrowIfFailed("post RDMA WRITE");
        IbvWc writeDone = Assert.Single(LabEnvironment.WaitForCompletions(client.CompletionQueue, 1));
        Assert.True(writeDone.IsSuccess, writeDone.StatusText);
        Assert.Equal((2UL, WorkCompletionOpcode.RdmaWrite), (writeDone.WrId, writeDone.Opcode));
        Assert.Equal(written, serverWriteTarget.Span.ToArray());

        // RDMA READ from the server's block, in two SGEs
        byte[] source = LabEnvironment.Pattern(BlockSize, 3);
        source.CopyTo(serverReadSource.Span);
        client.QueuePair.PostSend(3, SendOpcode.RdmaRead, [clientReadTarget.Sge(1000), clientReadTarget.Sge(BlockSize - 1000, offset: 1000)],
            SendFlags.Signaled, serverReadSource.Address, serverReadSource.Rkey).ThrowIfFailed("post RDMA READ");
        IbvWc readDone = Assert.Single(LabEnvironment.WaitForCompletions(client.CompletionQueue, 1));
        Assert.True(readDone.IsSuccess, readDone.StatusText);
        Assert.Equal((3UL, WorkCompletionOpcode.RdmaRead, (uint)BlockSize), (readDone.WrId, readDone.Opcode, readDone.ByteLen));
        Assert.Equal(source, clientReadTarget.Span.ToArray());

        // Receives outstanding at disconnect are flushed.
        RegisteredBlock[] pending = [clientPool.Rent(), clientPool.Rent(), clientPool.Rent()];
        for (int i = 0; i < pending.Length; i++)
        {
            client.QueuePair.PostReceive(10 + (ulong)i, [pending[i].Sge(BlockSize)]).ThrowIfFailed("post receive");
        }

        client.Disconnect();
        List<IbvWc> flushed = LabEnvironment.WaitForCompletions(client.CompletionQueue, 3);
        Assert.All(flushed, wc => Assert.Equal(WorkCompletionStatus.WrFlushErr, wc.Status));
        Assert.All(flushed, wc => Assert.StartsWith("IBV_WC_WR_FLUSH_ERR: ", wc.StatusText));
        Assert.Equal(new ulong[] { 10, 11, 12 }, flushed.Select(wc => wc.WrId).Order().ToArray());

        RdmaCmEvent? serverEvent = server.WaitForEvent(30_000);
        Assert.NotNull(serverEvent);
        Assert.Equal(RdmaCmEventType.Disconnected, serverEvent.Type);
    }

    [LabFact]
    public async Task PartialPostReportsHowManyWorkRequestsWentIn()
    {
        using ConnectedPair pair = await ConnectAsync([1], [2]);
        RdmaConnection client = pair.Client;
        using RegisteredBufferPool serverPool = new(pair.Server.ProtectionDomain, BlockSize, blocksPerSlab: 2);
        using RegisteredBufferPool clientPool = new(client.ProtectionDomain, BlockSize, blocksPerSlab: 3);
        RegisteredBlock target = serverPool.Rent();
        RegisteredBlock local = clientPool.Rent();
        local.Span.Fill(0x5A);

        // WR 2 carries more SGEs than the QP allows, so the provider refuses it (bad_wr) and
        // everything after it; WR 1 is posted and completes.
        PostResult result = PostThree(client.QueuePair, local, target);
        Assert.Equal(1, result.Posted);
        Assert.Equal(3, result.Requested);
        Assert.False(result.Succeeded);
        Assert.Contains("1 of 3 work requests were posted", result.ErrorText("ibv_post_send"));

        IbvWc only = Assert.Single(LabEnvironment.WaitForCompletions(client.CompletionQueue, 1));
        Assert.Equal(20UL, only.WrId);
        Assert.True(only.IsSuccess, only.StatusText);
        Thread.Sleep(100);
        Assert.Equal(0, client.CompletionQueue.Poll(new IbvWc[4]));
        Assert.All(target.Span[..64].ToArray(), b => Assert.Equal(0x5A, b));

        // Moving the QP to the error state flushes what is still posted.
        RegisteredBlock receiveBuffer = clientPool.Rent();
        client.QueuePair.PostReceive(30, [receiveBuffer.Sge(BlockSize)]).ThrowIfFailed("post receive");
        client.QueuePair.PostReceive(31, [receiveBuffer.Sge(BlockSize)]).ThrowIfFailed("post receive");
        client.QueuePair.MoveToErrorState();
        List<IbvWc> flushed = LabEnvironment.WaitForCompletions(client.CompletionQueue, 2);
        Assert.Equal(new ulong[] { 30, 31 }, flushed.Select(wc => wc.WrId).Order().ToArray());
        Assert.All(flushed, wc => Assert.Equal(WorkCompletionStatus.WrFlushErr, wc.Status));
    }

    private static unsafe PostResult PostThree(QueuePair qp, RegisteredBlock local, RegisteredBlock target)
    {
        int tooMany = qp.Capacities.MaxSendSge + 1;
        IbvSge* sges = stackalloc IbvSge[tooMany];
        for (int i = 0; i < tooMany; i++)
        {
            sges[i] = local.Sge(64);
        }

        IbvSendWr* chain = stackalloc IbvSendWr[3];
        for (int i = 0; i < 3; i++)
        {
            chain[i] = new IbvSendWr
            {
                WrId = 20 + (ulong)i,
                Opcode = SendOpcode.RdmaWrite,
                SendFlags = SendFlags.Signaled,
                SgList = sges,
                NumSge = i == 1 ? tooMany : 1,
                RemoteAddr = target.Address,
                Rkey = target.Rkey,
                Next = i < 2 ? &chain[i + 1] : null,
            };
        }

        return qp.PostSend(chain);
    }

    [LabFact]
    public async Task PollerDeliversEveryCompletionInBoundedBatches()
    {
        using ConnectedPair pair = await ConnectAsync([1], [2]);
        RdmaConnection client = pair.Client;
        using RegisteredBufferPool serverPool = new(pair.Server.ProtectionDomain, BlockSize, blocksPerSlab: 1);
        using RegisteredBufferPool clientPool = new(client.ProtectionDomain, BlockSize, blocksPerSlab: 1);
        RegisteredBlock target = serverPool.Rent();
        RegisteredBlock local = clientPool.Rent();

        const int batchSize = 4;
        const int waves = 3;
        int perWave = Options.Capacities.MaxSendWorkRequests;
        ConcurrentQueue<int> batchSizes = new();
        ConcurrentQueue<ulong> ids = new();
        ConcurrentQueue<string> failures = new();
        using CompletionQueuePoller poller = new(client.CompletionQueue, batch =>
        {
            batchSizes.Enqueue(batch.Length);
            foreach (IbvWc wc in batch)
            {
                if (!wc.IsSuccess)
                {
                    failures.Enqueue($"WR {wc.WrId}: {wc.StatusText}");
                }

                ids.Enqueue(wc.WrId);
            }
        }, onError: ex => failures.Enqueue(ex.ToString()), batchSize: batchSize, batchesPerWakeup: 2);

        for (int wave = 0; wave < waves; wave++)
        {
            for (int i = 0; i < perWave; i++)
            {
                ulong id = (ulong)(wave * perWave + i);
                client.QueuePair.PostSend(id, SendOpcode.RdmaWrite, [local.Sge(64, offset: i)], SendFlags.Signaled, target.Address + (ulong)i, target.Rkey)
                    .ThrowIfFailed("post RDMA WRITE");
            }

            int expected = (wave + 1) * perWave;
            Assert.True(SpinWait.SpinUntil(() => ids.Count >= expected, 30_000), $"{ids.Count} of {expected} completions delivered");
        }

        Assert.Empty(failures);
        Assert.Null(poller.Fault);
        Assert.Equal(waves * perWave, poller.CompletionCount);
        Assert.Equal(Enumerable.Range(0, waves * perWave).Select(i => (ulong)i), ids.Order());
        Assert.All(batchSizes, n => Assert.InRange(n, 1, batchSize));
    }

    [LabFact]
    public async Task WrongRemoteKeyCompletesWithARemoteAccessError()
    {
        using ConnectedPair pair = await ConnectAsync([1], [2]);
        using RegisteredBufferPool serverPool = new(pair.Server.ProtectionDomain, BlockSize, blocksPerSlab: 1);
        using RegisteredBufferPool clientPool = new(pair.Client.ProtectionDomain, BlockSize, blocksPerSlab: 1);
        RegisteredBlock target = serverPool.Rent();
        RegisteredBlock local = clientPool.Rent();

        pair.Client.QueuePair.PostSend(7, SendOpcode.RdmaWrite, [local.Sge(BlockSize)], SendFlags.Signaled, target.Address, target.Rkey ^ 0x00FF_FF00)
            .ThrowIfFailed("post RDMA WRITE");

        IbvWc failed = Assert.Single(LabEnvironment.WaitForCompletions(pair.Client.CompletionQueue, 1));
        Assert.Equal(7UL, failed.WrId);
        Assert.Equal(WorkCompletionStatus.RemAccessErr, failed.Status);
        Assert.StartsWith("IBV_WC_REM_ACCESS_ERR: The peer refused remote access", failed.StatusText);
    }

    [LabFact]
    public void RejectedConnectCarriesTheRejectPrivateData()
    {
        using RdmaListener listener = RdmaListener.Start(new IPEndPoint(LabEnvironment.Address, 0));
        Task<RdmaConnection> client = Task.Run(() => RdmaConnection.Connect(listener.LocalEndPoint, Encoding.ASCII.GetBytes("let me in"), Options));
        using (RdmaConnectRequest request = listener.GetConnectRequest(60_000) ?? throw new TimeoutException("no connect request within 60 s"))
        {
            request.Reject(Encoding.ASCII.GetBytes("go away"));
        }

        AggregateException failure = Assert.Throws<AggregateException>(() => client.Wait(90_000));
        RdmaCmEventException rejected = Assert.IsType<RdmaCmEventException>(failure.InnerException);
        Assert.Equal(RdmaCmEventType.Rejected, rejected.Event.Type);
        Assert.Equal("go away"u8.ToArray(), rejected.Event.PrivateData.AsSpan(0, 7).ToArray());
        Assert.Contains("the peer rejected the connection (RDMA_CM_EVENT_REJECTED", rejected.Message);
    }
}
