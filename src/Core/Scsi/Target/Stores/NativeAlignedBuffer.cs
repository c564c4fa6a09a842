using System.Buffers;
using System.Runtime.InteropServices;

namespace Iser.Core.Scsi.Target.Stores;

/// <summary>Unmanaged memory with a chosen alignment, usable as <see cref="Memory{T}"/> (O_DIRECT bounce buffers).</summary>
internal sealed unsafe class NativeAlignedBuffer : MemoryManager<byte>
{
    private byte* _pointer;

    public NativeAlignedBuffer(int length, int alignment)
    {
        Length = length;
        _pointer = (byte*)NativeMemory.AlignedAlloc((nuint)length, (nuint)alignment);
        new Span<byte>(_pointer, length).Clear();
    }

    public int Length { get; }

    public override Span<byte> GetSpan() => new(_pointer, Length);

    public override MemoryHandle Pin(int elementIndex = 0) => new(_pointer + elementIndex);

    public override void Unpin() { }

    protected override void Dispose(bool disposing)
    {
        if (_pointer != null)
        {
            NativeMemory.AlignedFree(_pointer);
            _pointer = null;
        }
    }
}
