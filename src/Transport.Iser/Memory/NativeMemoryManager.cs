using System.Buffers;

namespace Iser.Transport.Iser.Memory;

/// <summary>Exposes a range of native memory owned elsewhere (a pool slab) as Memory&lt;byte&gt;; pinning is a no-op.</summary>
internal sealed unsafe class NativeMemoryManager(byte* pointer, int length) : MemoryManager<byte>
{
    public override Span<byte> GetSpan() => new(pointer, length);

    public override MemoryHandle Pin(int elementIndex = 0)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)elementIndex, (uint)length, nameof(elementIndex));
        return new MemoryHandle(pointer + elementIndex);
    }

    public override void Unpin()
    {
    }

    protected override void Dispose(bool disposing)
    {
        // The slab owns the memory.
    }
}
