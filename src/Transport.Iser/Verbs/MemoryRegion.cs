using Iser.Transport.Iser.Verbs.Native;

namespace Iser.Transport.Iser.Verbs;

/// <summary>A registered memory region (ibv_mr): its address range and the keys that name it locally (lkey) and to peers (rkey).</summary>
public sealed unsafe class MemoryRegion : IDisposable
{
    internal MemoryRegion(ProtectionDomain pd, void* address, nuint length, MemoryAccess access, IDisposable? pin)
    {
        if (length == 0)
        {
            throw new ArgumentOutOfRangeException(nameof(length), "A memory region must not be empty.");
        }

        ProtectionDomain = pd;
        IntPtr pdPointer = pd.Handle.DangerousGetHandle();
        Handle = NativeObjectHandle.Create(
            NativeObjectKind.MemoryRegion, $"ibv_reg_mr({length} bytes, access {access})",
            () => LibIbverbs.ibv_reg_mr(pdPointer, address, length, (int)access), pin, pd.Handle);

        byte* mr = (byte*)Handle.DangerousGetHandle();
        Address = (ulong)*(IntPtr*)(mr + NativeLayout.IbvMr.Addr);
        Length = (ulong)*(nuint*)(mr + NativeLayout.IbvMr.Length);
        Lkey = *(uint*)(mr + NativeLayout.IbvMr.Lkey);
        Rkey = *(uint*)(mr + NativeLayout.IbvMr.Rkey);
        Access = access;
    }

    public ProtectionDomain ProtectionDomain { get; }

    /// <summary>Start address of the region (also the iova peers use with the rkey).</summary>
    public ulong Address { get; }

    public ulong Length { get; }

    /// <summary>Local key: goes into IbvSge.Lkey.</summary>
    public uint Lkey { get; }

    /// <summary>Remote key: advertised to the peer for RDMA READ/WRITE into this region.</summary>
    public uint Rkey { get; }

    public MemoryAccess Access { get; }

    internal NativeObjectHandle Handle { get; }

    /// <summary>True when [address, address+length) lies inside the region.</summary>
    public bool Contains(ulong address, ulong length) => address >= Address && length <= Length && address - Address <= Length - length;

    /// <summary>A scatter/gather element for part of this region.</summary>
    public IbvSge Sge(ulong address, uint length)
    {
        if (!Contains(address, length))
        {
            throw new ArgumentOutOfRangeException(nameof(address), $"[0x{address:x}, +{length}) is outside the memory region [0x{Address:x}, +{Length}).");
        }

        return new IbvSge(address, length, Lkey);
    }

    /// <summary>Deregisters (once no native call is using it) and then unpins the memory if this region pinned it.</summary>
    public void Dispose() => Handle.Dispose();
}
