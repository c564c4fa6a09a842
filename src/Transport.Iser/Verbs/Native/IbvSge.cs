using System.Runtime.InteropServices;

namespace Iser.Transport.Iser.Verbs;

/// <summary>struct ibv_sge: one scatter/gather element of a work request.</summary>
[StructLayout(LayoutKind.Explicit, Size = NativeLayout.IbvSge.Size)]
public struct IbvSge
{
    [FieldOffset(NativeLayout.IbvSge.Addr)] public ulong Addr;
    [FieldOffset(NativeLayout.IbvSge.Length)] public uint Length;
    [FieldOffset(NativeLayout.IbvSge.Lkey)] public uint Lkey;

    public IbvSge(ulong addr, uint length, uint lkey)
    {
        Addr = addr;
        Length = length;
        Lkey = lkey;
    }
}
