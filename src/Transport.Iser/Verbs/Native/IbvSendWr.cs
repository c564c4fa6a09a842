using System.Runtime.InteropServices;

namespace Iser.Transport.Iser.Verbs;

/// <summary>
/// struct ibv_send_wr. Only the RDMA member of the "wr" union is mapped (remote_addr, rkey):
/// the binding posts SEND, RDMA WRITE and RDMA READ on RC queue pairs. Build it on the stack,
/// chain with Next, point SgList at IbvSge elements that stay alive until the post returns.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = NativeLayout.IbvSendWr.Size)]
public unsafe struct IbvSendWr
{
    [FieldOffset(NativeLayout.IbvSendWr.WrId)] public ulong WrId;
    [FieldOffset(NativeLayout.IbvSendWr.Next)] public IbvSendWr* Next;
    [FieldOffset(NativeLayout.IbvSendWr.SgList)] public IbvSge* SgList;
    [FieldOffset(NativeLayout.IbvSendWr.NumSge)] public int NumSge;
    [FieldOffset(NativeLayout.IbvSendWr.Opcode)] public SendOpcode Opcode;
    [FieldOffset(NativeLayout.IbvSendWr.SendFlags)] public SendFlags SendFlags;
    /// <summary>Immediate data, network byte order (union with invalidate_rkey).</summary>
    [FieldOffset(NativeLayout.IbvSendWr.ImmData)] public uint ImmData;
    [FieldOffset(NativeLayout.IbvSendWr.RdmaRemoteAddr)] public ulong RemoteAddr;
    [FieldOffset(NativeLayout.IbvSendWr.RdmaRkey)] public uint Rkey;
}
