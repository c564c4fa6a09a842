using System.Diagnostics;
using System.Runtime.CompilerServices;
using Iser.Transport.Iser.Memory;
using Iser.Transport.Iser.Verbs;

namespace Iser.VerbsBench;

/// <summary>
/// SEND/RECV ping-pong like ib_send_lat: the client SENDs, the server's RECV completes and it SENDs
/// back, the client's RECV completes; one-way latency is half the round trip. Both sides busy-poll
/// their CQ; sends are signalled every <c>signalEvery</c>th and inline when asked (the defaults match
/// what ib_send_lat does on rxe: TX depth 1, so every send signalled, and no inline data); receives are
/// re-posted one for one. Nothing is allocated in the timed loop.
/// </summary>
internal static class SendLatency
{
    private const int ReceiveDepth = 64;

    public static int Run(BenchConnection c, int size, int iterations, int warmup, int signalEvery, bool inline)
    {
        RegisteredBlock serverSend = c.ServerPool.Rent(), serverRecv = c.ServerPool.Rent();
        RegisteredBlock clientSend = c.ClientPool.Rent(), clientRecv = c.ClientPool.Rent();
        int total = warmup + iterations;
        for (int i = 0; i < ReceiveDepth; i++)
        {
            c.Server.QueuePair.PostReceive(0, [serverRecv.Sge(size)]).ThrowIfFailed("post receive");
            c.Client.QueuePair.PostReceive(0, [clientRecv.Sge(size)]).ThrowIfFailed("post receive");
        }

        Exception? serverFault = null;
        Thread server = new(() =>
        {
            try
            {
                Pong(c.Server, serverSend.Sge(size), serverRecv.Sge(size), total, signalEvery, inline);
            }
            catch (Exception ex)
            {
                serverFault = ex;
            }
        }) { IsBackground = true, Name = "pong" };
        server.Start();

        long[] roundTrips = new long[total];
        Ping(c.Client, clientSend.Sge(size), clientRecv.Sge(size), roundTrips, signalEvery, inline);
        server.Join();
        if (serverFault is not null)
        {
            throw serverFault;
        }

        double[] oneWayUs = roundTrips[warmup..].Select(t => t * 1e6 / Stopwatch.Frequency / 2).Order().ToArray();
        double Percentile(double p) => oneWayUs[Math.Min(oneWayUs.Length - 1, (int)(p * oneWayUs.Length))];
        Console.WriteLine(
            $"verbs-send-lat {size} B x {iterations}: median {Percentile(0.5):F2} us, p99 {Percentile(0.99):F2} us, " +
            $"avg {oneWayUs.Average():F2} us, min {oneWayUs[0]:F2} us, max {oneWayUs[^1]:F2} us");
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Ping(RdmaConnection client, IbvSge send, IbvSge recv, long[] roundTrips, int signalEvery, bool inline)
    {
        QueuePair qp = client.QueuePair;
        CompletionQueue cq = client.CompletionQueue;
        IbvSendWr wr = new() { SgList = &send, NumSge = 1, Opcode = SendOpcode.Send };
        IbvRecvWr rwr = new() { SgList = &recv, NumSge = 1 };
        Span<IbvWc> wc = stackalloc IbvWc[16];
        SendFlags plain = inline ? SendFlags.Inline : SendFlags.None;
        for (int i = 0; i < roundTrips.Length; i++)
        {
            long start = Stopwatch.GetTimestamp();
            wr.SendFlags = i % signalEvery == 0 ? plain | SendFlags.Signaled : plain;
            qp.PostSend(&wr).ThrowIfFailed("post SEND");
            WaitForReceive(cq, wc);
            roundTrips[i] = Stopwatch.GetTimestamp() - start;
            qp.PostReceive(&rwr).ThrowIfFailed("post receive");
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Pong(RdmaConnection server, IbvSge send, IbvSge recv, int count, int signalEvery, bool inline)
    {
        QueuePair qp = server.QueuePair;
        CompletionQueue cq = server.CompletionQueue;
        IbvSendWr wr = new() { SgList = &send, NumSge = 1, Opcode = SendOpcode.Send };
        IbvRecvWr rwr = new() { SgList = &recv, NumSge = 1 };
        Span<IbvWc> wc = stackalloc IbvWc[16];
        SendFlags plain = inline ? SendFlags.Inline : SendFlags.None;
        for (int i = 0; i < count; i++)
        {
            WaitForReceive(cq, wc);
            wr.SendFlags = i % signalEvery == 0 ? plain | SendFlags.Signaled : plain;
            qp.PostSend(&wr).ThrowIfFailed("post SEND");
            qp.PostReceive(&rwr).ThrowIfFailed("post receive");
        }
    }

    /// <summary>Busy-polls until one receive completion arrived; send completions are consumed on the way.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void WaitForReceive(CompletionQueue cq, Span<IbvWc> wc)
    {
        while (true)
        {
            // One at a time, so a second receive is never taken early and lost.
            int n = cq.Poll(wc[..1]);
            if (n == 0)
            {
                continue;
            }

            if (!wc[0].IsSuccess)
            {
                throw new InvalidOperationException($"work request failed: {wc[0].StatusText}");
            }

            if (wc[0].Opcode == WorkCompletionOpcode.Recv)
            {
                return;
            }
        }
    }
}
