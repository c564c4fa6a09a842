using System.Collections.Concurrent;

namespace Iser.Core.Iscsi.Pdus;

/// <summary>A process-wide pool of PDU objects so the hot path allocates none.</summary>
public static class PduPool
{
    private const int MaxPooled = 4096;
    private static readonly ConcurrentQueue<Pdu> Pool = new();
    private static int _count;

    public static Pdu Rent()
    {
        if (Pool.TryDequeue(out var pdu))
        {
            Interlocked.Decrement(ref _count);
            return pdu;
        }
        return new Pdu();
    }

    public static void Return(Pdu pdu)
    {
        pdu.Reset();
        if (Interlocked.Increment(ref _count) <= MaxPooled) Pool.Enqueue(pdu);
        else
        {
            Interlocked.Decrement(ref _count);
            pdu.Dispose();
        }
    }
}
