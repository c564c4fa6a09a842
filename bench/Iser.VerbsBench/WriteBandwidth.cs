using System.Diagnostics;
using System.Runtime.CompilerServices;
using Iser.Transport.Iser.Memory;
using Iser.Transport.Iser.Verbs;

namespace Iser.VerbsBench;

/// <summary>
/// RDMA WRITE streaming like ib_write_bw: keeps <c>depth</c> writes of <c>size</c> bytes in flight
/// into the server's buffer, signalling every <c>signalEvery</c>th (ib_write_bw on rxe reports CQ
/// moderation 1: every write) and busy-polling the CQ.
/// MB/s are 2^20 bytes per second, as perftest reports them.
/// </summary>
internal static class WriteBandwidth
{
    public static int Run(BenchConnection c, int size, int iterations, int depth, int signalEvery)
    {
        RegisteredBlock source = c.ClientPool.Rent(), target = c.ServerPool.Rent();
        source.Span.Fill(0xA5);
        long warmupTicks = Stream(c.Client, source.Sge(size), target.Address, target.Rkey, Math.Min(iterations, 4 * depth), depth, signalEvery);
        long ticks = Stream(c.Client, source.Sge(size), target.Address, target.Rkey, iterations, depth, signalEvery);
        _ = warmupTicks;
        double seconds = (double)ticks / Stopwatch.Frequency;
        double mbPerSecond = (double)size * iterations / seconds / (1 << 20);
        Console.WriteLine($"verbs-write-bw {size} B x {iterations}: average {mbPerSecond:F2} MB/s, {iterations / seconds / 1e6:F6} Mpps, depth {depth}, signalled every {signalEvery}");
        if (target.Span[size - 1] != 0xA5)
        {
            throw new InvalidOperationException("the written data did not arrive in the server's buffer");
        }

        return 0;
    }

    /// <summary>Posts <paramref name="count"/> writes with at most <paramref name="depth"/> outstanding; returns elapsed ticks.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe long Stream(RdmaConnection client, IbvSge sge, ulong remoteAddress, uint rkey, int count, int depth, int signalEvery)
    {
        QueuePair qp = client.QueuePair;
        CompletionQueue cq = client.CompletionQueue;
        IbvSendWr wr = new() { SgList = &sge, NumSge = 1, Opcode = SendOpcode.RdmaWrite, RemoteAddr = remoteAddress, Rkey = rkey };
        Span<IbvWc> wc = stackalloc IbvWc[16];
        int posted = 0, completed = 0;
        long start = Stopwatch.GetTimestamp();
        while (completed < count)
        {
            while (posted < count && posted - completed < depth)
            {
                posted++;
                // Signal every signalEvery-th and the last: each completion retires that many writes.
                bool signal = posted % signalEvery == 0 || posted == count;
                wr.WrId = (ulong)posted;
                wr.SendFlags = signal ? SendFlags.Signaled : SendFlags.None;
                qp.PostSend(&wr).ThrowIfFailed("post RDMA WRITE");
            }

            int n = cq.Poll(wc);
            for (int i = 0; i < n; i++)
            {
                if (!wc[i].IsSuccess)
                {
                    throw new InvalidOperationException($"RDMA WRITE {wc[i].WrId} failed: {wc[i].StatusText}");
                }

                completed = (int)wc[i].WrId;
            }
        }

        return Stopwatch.GetTimestamp() - start;
    }
}
