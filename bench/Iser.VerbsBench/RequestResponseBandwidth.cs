using System.Diagnostics;
using System.Runtime.CompilerServices;
using Iser.Transport.Iser.Memory;
using Iser.Transport.Iser.Verbs;

namespace Iser.VerbsBench;

/// <summary>
/// The verbs an iSER read needs and nothing else: the client keeps <c>depth</c> small request SENDs outstanding; for
/// each one the server RDMA WRITEs <c>size</c> bytes into the client's buffer and SENDs a small response behind it
/// (one chain per CQ poll, the WRITEs unsignaled, the chain's last SEND signaled, as our target posts); each response
/// lets the client send its next request. Both sides busy-poll their CQ, so no wakeups and no protocol work: this is
/// the ceiling of any request/response target on the link, to set beside write-bw's plain WRITE stream.
/// MB/s are 2^20 bytes per second of WRITE data, as perftest reports them.
/// </summary>
internal static class RequestResponseBandwidth
{
    private const int MessageSize = 64;
    private const int PollBatch = 16;

    public static int Run(BenchConnection c, int size, int iterations, int depth)
    {
        RegisteredBlock source = c.ServerPool.Rent(), serverMessages = c.ServerPool.Rent();
        RegisteredBlock target = c.ClientPool.Rent(), clientMessages = c.ClientPool.Rent();
        source.Span.Fill(0xA5);
        target.Span.Clear();
        int warmup = Math.Min(iterations, 4 * depth);
        int total = warmup + iterations;
        // The request and response bodies do not matter: every receive lands in the same small slice.
        IbvSge serverRecv = serverMessages.Sge(MessageSize), clientRecv = clientMessages.Sge(MessageSize);
        for (int i = 0; i < depth + 2; i++)
        {
            c.Server.QueuePair.PostReceive(0, [serverRecv]).ThrowIfFailed("post receive");
            c.Client.QueuePair.PostReceive(0, [clientRecv]).ThrowIfFailed("post receive");
        }

        Exception? serverFault = null;
        Thread server = new(() =>
        {
            try
            {
                Serve(c.Server, source.Sge(size), serverMessages.Sge(MessageSize), serverRecv, target.Address, target.Rkey, total);
            }
            catch (Exception ex)
            {
                Volatile.Write(ref serverFault, ex);
            }
        }) { IsBackground = true, Name = "serve" };
        server.Start();

        long ticks;
        try
        {
            ticks = Request(c.Client, clientMessages.Sge(MessageSize), clientRecv, warmup, iterations, depth, () => Volatile.Read(ref serverFault) is not null);
        }
        finally
        {
            server.Join(TimeSpan.FromSeconds(5));
            if (serverFault is not null)
            {
                throw serverFault;
            }
        }

        double seconds = (double)ticks / Stopwatch.Frequency;
        Console.WriteLine(
            $"verbs-serve-bw {size} B x {iterations}: average {(double)size * iterations / seconds / (1 << 20):F2} MB/s, " +
            $"{iterations / seconds:F0} requests/s, depth {depth}");
        if (target.Span[size - 1] != 0xA5)
        {
            throw new InvalidOperationException("the written data did not arrive in the client's buffer");
        }

        return 0;
    }

    /// <summary>Client: <paramref name="depth"/> requests outstanding; returns the ticks of the timed part.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe long Request(RdmaConnection client, IbvSge send, IbvSge recv, int warmup, int iterations, int depth, Func<bool> serverFailed)
    {
        QueuePair qp = client.QueuePair;
        CompletionQueue cq = client.CompletionQueue;
        IbvSendWr wr = new() { SgList = &send, NumSge = 1, Opcode = SendOpcode.Send, SendFlags = SendFlags.Signaled };
        IbvRecvWr rwr = new() { SgList = &recv, NumSge = 1 };
        Span<IbvWc> wc = stackalloc IbvWc[PollBatch];
        int total = warmup + iterations, posted = 0, answered = 0;
        long start = 0;
        for (; posted < Math.Min(depth, total); posted++)
        {
            qp.PostSend(&wr).ThrowIfFailed("post request SEND");
        }

        while (answered < total)
        {
            int n = cq.Poll(wc);
            if (n == 0 && serverFailed())
            {
                throw new InvalidOperationException($"the server failed after {answered} of {total} responses");
            }

            for (int i = 0; i < n; i++)
            {
                if (!wc[i].IsSuccess)
                {
                    throw new InvalidOperationException($"client work request failed: {wc[i].StatusText}");
                }

                if (wc[i].Opcode != WorkCompletionOpcode.Recv)
                {
                    continue;
                }

                answered++;
                if (answered == warmup)
                {
                    start = Stopwatch.GetTimestamp();
                }

                qp.PostReceive(&rwr).ThrowIfFailed("post receive");
                if (posted < total)
                {
                    posted++;
                    qp.PostSend(&wr).ThrowIfFailed("post request SEND");
                }
            }
        }

        return Stopwatch.GetTimestamp() - start;
    }

    /// <summary>Server: per poll, one chain of WRITE + response SEND for every request it found.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Serve(RdmaConnection server, IbvSge data, IbvSge response, IbvSge recv, ulong remoteAddress, uint rkey, int total)
    {
        QueuePair qp = server.QueuePair;
        CompletionQueue cq = server.CompletionQueue;
        IbvRecvWr rwr = new() { SgList = &recv, NumSge = 1 };
        Span<IbvWc> wc = stackalloc IbvWc[PollBatch];
        IbvSendWr* chain = stackalloc IbvSendWr[2 * PollBatch];
        int served = 0;
        while (served < total)
        {
            int n = cq.Poll(wc), requests = 0;
            for (int i = 0; i < n; i++)
            {
                if (!wc[i].IsSuccess)
                {
                    throw new InvalidOperationException($"server work request failed: {wc[i].StatusText}");
                }

                if (wc[i].Opcode != WorkCompletionOpcode.Recv)
                {
                    continue;
                }

                qp.PostReceive(&rwr).ThrowIfFailed("post receive");
                chain[2 * requests] = new IbvSendWr
                {
                    SgList = &data, NumSge = 1, Opcode = SendOpcode.RdmaWrite, RemoteAddr = remoteAddress, Rkey = rkey,
                    Next = &chain[2 * requests + 1],
                };
                chain[2 * requests + 1] = new IbvSendWr
                {
                    SgList = &response, NumSge = 1, Opcode = SendOpcode.Send, Next = &chain[2 * requests + 2],
                };
                requests++;
            }

            if (requests == 0)
            {
                continue;
            }

            IbvSendWr* last = &chain[2 * requests - 1];
            last->SendFlags = SendFlags.Signaled;
            last->Next = null;
            qp.PostSend(chain).ThrowIfFailed("post WRITE and response chain");
            served += requests;
        }
    }
}
