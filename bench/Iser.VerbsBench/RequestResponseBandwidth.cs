using System.Diagnostics;
using System.Runtime.CompilerServices;
using Iser.Transport.Iser.Memory;
using Iser.Transport.Iser.Verbs;

namespace Iser.VerbsBench;

/// <summary>
/// The verbs an iSER read needs and nothing else: the client keeps <c>depth</c> small request SENDs outstanding; for
/// each one the server RDMA WRITEs <c>size</c> bytes into the client's buffer and SENDs a small response behind it
/// (one chain per CQ poll, the WRITEs unsignaled, the chain's last SEND signaled, as our target posts); each response
/// lets the client send its next request. By default both sides busy-poll their CQ, so no wakeups and no protocol
/// work: the ceiling of any request/response target on the link, to set beside write-bw's plain WRITE stream.
/// Options add back, one at a time, what a real exchange has: <c>buffers</c> blocks used in turn on both sides, a client
/// that sleeps on its completion channel (<see cref="ClientWait"/>: libiscsi's iSER transport waits in poll(2) on it,
/// so responses the server posts also run the client's completion event and wakeup on the server's CPU), and a copy
/// per response from a 64 MiB store (a RAM logical unit reading into registered memory).
/// MB/s are 2^20 bytes per second of WRITE data, as perftest reports them.
/// </summary>
internal static class RequestResponseBandwidth
{
    private const int MessageSize = 64;
    private const int PollBatch = 16;

    public static int Run(BenchConnection c, int size, int iterations, int depth, int buffers, ClientWait clientWait, bool copy)
    {
        RegisteredBlock serverMessages = c.ServerPool.Rent(), clientMessages = c.ClientPool.Rent();
        var sources = new IbvSge[buffers];
        var targets = new RegisteredBlock[buffers];
        for (int i = 0; i < buffers; i++)
        {
            RegisteredBlock source = c.ServerPool.Rent();
            source.Span.Fill(0xA5);
            sources[i] = source.Sge(size);
            targets[i] = c.ClientPool.Rent();
            targets[i].Span.Clear();
        }

        RegisteredBlock target = targets[0];
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
                Serve(c.Server, sources, serverMessages.Sge(MessageSize), serverRecv, targets.Select(t => t.Address).ToArray(), target.Rkey, total, copy);
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
            ticks = Request(c.Client, clientMessages.Sge(MessageSize), clientRecv, warmup, iterations, depth, clientWait, () => Volatile.Read(ref serverFault) is not null);
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
            $"{iterations / seconds:F0} requests/s, depth {depth}, buffers {buffers}, client {clientWait}, copy {copy}");
        if (target.Span[size - 1] != 0xA5)
        {
            throw new InvalidOperationException("the written data did not arrive in the client's buffer");
        }

        return 0;
    }

    /// <summary>Client: <paramref name="depth"/> requests outstanding; returns the ticks of the timed part.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe long Request(RdmaConnection client, IbvSge send, IbvSge recv, int warmup, int iterations, int depth, ClientWait wait, Func<bool> serverFailed)
    {
        QueuePair qp = client.QueuePair;
        CompletionQueue cq = client.CompletionQueue;
        IbvSendWr wr = new() { SgList = &send, NumSge = 1, Opcode = SendOpcode.Send, SendFlags = SendFlags.Signaled };
        IbvRecvWr rwr = new() { SgList = &recv, NumSge = 1 };
        Span<IbvWc> wc = stackalloc IbvWc[PollBatch];
        int total = warmup + iterations, posted = 0, answered = 0;
        long start = 0;
        bool draining = false;
        if (wait == ClientWait.EventFirst)
        {
            cq.RequestNotification(); // before the first requests, so their completions raise the first event
        }

        for (; posted < Math.Min(depth, total); posted++)
        {
            qp.PostSend(&wr).ThrowIfFailed("post request SEND");
        }

        while (answered < total)
        {
            if (wait == ClientWait.EventFirst && !draining)
            {
                // libiscsi's loop (lib/iser.c, cq_handle): sleep until an event, re-arm at once, then poll the CQ empty.
                // Re-arming before the poll means a response that lands during the poll raises another event.
                if (cq.Channel!.WaitForEvent(100) == IntPtr.Zero)
                {
                    ThrowIfServerFailed(serverFailed, answered, total);
                }

                cq.RequestNotification();
                draining = true; // after a quiet 100 ms too: one look at the CQ costs nothing then
            }

            int n = cq.Poll(wc);
            if (n == 0 && wait == ClientWait.ArmWhenEmpty)
            {
                // As our own initiator's CompletionQueuePoller does: arm, look once more, then sleep on the channel.
                cq.RequestNotification();
                n = cq.Poll(wc);
                if (n == 0)
                {
                    cq.Channel!.WaitForEvent(100);
                    continue;
                }
            }

            if (n == 0)
            {
                draining = false;
                ThrowIfServerFailed(serverFailed, answered, total);
                continue;
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

    private static void ThrowIfServerFailed(Func<bool> serverFailed, int answered, int total)
    {
        if (serverFailed())
        {
            throw new InvalidOperationException($"the server failed after {answered} of {total} responses");
        }
    }

    /// <summary>Server: per poll, one chain of WRITE + response SEND for every request it found.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Serve(RdmaConnection server, IbvSge[] sources, IbvSge response, IbvSge recv, ulong[] remoteAddresses, uint rkey, int total, bool copy)
    {
        byte[] store = copy ? GC.AllocateArray<byte>(64 << 20, pinned: true) : [];
        store.AsSpan().Fill(0xA5);
        long storeOffset = 0;
        int next = 0;
        IbvSge* data = stackalloc IbvSge[sources.Length];
        for (int i = 0; i < sources.Length; i++)
        {
            data[i] = sources[i];
        }

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
                int b = next;
                next = (next + 1) % sources.Length;
                if (copy)
                {
                    // As a RAM store's read into a lent registered block does: a sequential walk over 64 MiB.
                    int length = (int)data[b].Length;
                    if (storeOffset + length > store.Length) storeOffset = 0;
                    store.AsSpan((int)storeOffset, length).CopyTo(new Span<byte>((void*)data[b].Addr, length));
                    storeOffset += length;
                }

                chain[2 * requests] = new IbvSendWr
                {
                    SgList = &data[b], NumSge = 1, Opcode = SendOpcode.RdmaWrite, RemoteAddr = remoteAddresses[b], Rkey = rkey,
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
