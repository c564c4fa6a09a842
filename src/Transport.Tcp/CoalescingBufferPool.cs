using System.Diagnostics;

namespace Iser.Transport.Tcp;

/// <summary>
/// The pinned buffers writers coalesce PDUs into, shared by every connection of the process. A writer holds one only
/// while it drains, so a process with thousands of mostly idle connections touches a few of them instead of one each
/// (each connection kept its own 132 KiB, up to 20 KiB of it resident, before). A fixed array of slots taken and put
/// back by interlocked exchange: no allocation once the pool is warm, no lock. More drainers at once than slots (a
/// send waiting on a full socket holds its buffer) get a new buffer, dropped again on return when every slot is full.
/// </summary>
internal static class CoalescingBufferPool
{
    /// <summary>PDUs are coalesced up to this many bytes before a send; a buffer has a page more for the last one's header.</summary>
    public const int CoalesceLimit = 128 * 1024;
    public const int BufferLength = CoalesceLimit + 4096;

    private static readonly byte[]?[] s_slots = new byte[]?[Math.Max(4, 4 * Environment.ProcessorCount)];

    public static byte[] Rent()
    {
        var slots = s_slots;
        for (int i = 0; i < slots.Length; i++)
        {
            if (Volatile.Read(ref slots[i]) is not null && Interlocked.Exchange(ref slots[i], null) is { } buffer) return buffer;
        }
        return GC.AllocateUninitializedArray<byte>(BufferLength, pinned: true);
    }

    public static void Return(byte[] buffer)
    {
        Debug.Assert(buffer.Length == BufferLength, "A buffer that did not come from this pool.");
        var slots = s_slots;
        for (int i = 0; i < slots.Length; i++)
        {
            Debug.Assert(!ReferenceEquals(Volatile.Read(ref slots[i]), buffer), "A buffer returned twice.");
            if (Volatile.Read(ref slots[i]) is null && Interlocked.CompareExchange(ref slots[i], buffer, null) is null) return;
        }
    }
}
