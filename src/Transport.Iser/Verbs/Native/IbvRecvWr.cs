using System.Runtime.InteropServices;

namespace Iser.Transport.Iser.Verbs;

/// <summary>struct ibv_recv_wr.</summary>
[StructLayout(LayoutKind.Explicit, Size = NativeLayout.IbvRecvWr.Size)]
public unsafe struct IbvRecvWr
{
    [FieldOffset(NativeLayout.IbvRecvWr.WrId)] public ulong WrId;
    [FieldOffset(NativeLayout.IbvRecvWr.Next)] public IbvRecvWr* Next;
    [FieldOffset(NativeLayout.IbvRecvWr.SgList)] public IbvSge* SgList;
    [FieldOffset(NativeLayout.IbvRecvWr.NumSge)] public int NumSge;
}
