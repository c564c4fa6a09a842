using Iser.Transport.Iser.Verbs;

namespace Iser.Transport.Iser.Memory;

/// <summary>
/// One fixed-size block of a <see cref="RegisteredBufferPool"/>: native, pinned, page-aligned
/// memory inside a registered region, with the keys to use it in work requests (Lkey) and to
/// advertise it to the peer (Rkey). A value type: renting and returning allocate nothing.
/// </summary>
public readonly unsafe struct RegisteredBlock : IEquatable<RegisteredBlock>
{
    internal RegisteredBlock(int index, byte* pointer, int length, uint lkey, uint rkey, System.Buffers.MemoryManager<byte> memory)
    {
        Index = index;
        Pointer = (IntPtr)pointer;
        Length = length;
        Lkey = lkey;
        Rkey = rkey;
        MemoryManager = memory;
    }

    /// <summary>Position of the block in its pool (identifies it on return).</summary>
    public int Index { get; }

    public IntPtr Pointer { get; }

    /// <summary>The block's address as peers and SGEs name it.</summary>
    public ulong Address => (ulong)Pointer;

    public int Length { get; }

    public uint Lkey { get; }

    public uint Rkey { get; }

    /// <summary>False for default(RegisteredBlock).</summary>
    public bool IsValid => Pointer != IntPtr.Zero;

    internal System.Buffers.MemoryManager<byte>? MemoryManager { get; }

    public Span<byte> Span => new((void*)Pointer, Length);

    /// <summary>The block as Memory&lt;byte&gt; (backed by a manager made once per block at slab creation).</summary>
    public Memory<byte> Memory => MemoryManager?.Memory ?? Memory<byte>.Empty;

    /// <summary>An SGE covering the first <paramref name="length"/> bytes of the block (plus <paramref name="offset"/>).</summary>
    public IbvSge Sge(int length, int offset = 0)
    {
        if ((uint)offset > (uint)Length || (uint)length > (uint)(Length - offset))
        {
            throw new ArgumentOutOfRangeException(nameof(length), $"[{offset}, +{length}) does not fit in a {Length}-byte block.");
        }

        return new IbvSge(Address + (ulong)offset, (uint)length, Lkey);
    }

    public bool Equals(RegisteredBlock other) => Pointer == other.Pointer && Index == other.Index;

    public override bool Equals(object? obj) => obj is RegisteredBlock other && Equals(other);

    public override int GetHashCode() => HashCode.Combine(Pointer, Index);

    public static bool operator ==(RegisteredBlock left, RegisteredBlock right) => left.Equals(right);

    public static bool operator !=(RegisteredBlock left, RegisteredBlock right) => !left.Equals(right);
}
