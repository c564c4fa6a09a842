using System.Runtime.InteropServices;

namespace Iser.Transport.Iser.Verbs.Native;

/// <summary>struct ibv_qp_init_attr with its embedded struct ibv_qp_cap.</summary>
[StructLayout(LayoutKind.Explicit, Size = NativeLayout.IbvQpInitAttr.Size)]
internal struct IbvQpInitAttr
{
    [FieldOffset(NativeLayout.IbvQpInitAttr.QpContext)] public IntPtr QpContext;
    [FieldOffset(NativeLayout.IbvQpInitAttr.SendCq)] public IntPtr SendCq;
    [FieldOffset(NativeLayout.IbvQpInitAttr.RecvCq)] public IntPtr RecvCq;
    [FieldOffset(NativeLayout.IbvQpInitAttr.Srq)] public IntPtr Srq;
    [FieldOffset(NativeLayout.IbvQpInitAttr.Cap + NativeLayout.IbvQpCap.MaxSendWr)] public uint MaxSendWr;
    [FieldOffset(NativeLayout.IbvQpInitAttr.Cap + NativeLayout.IbvQpCap.MaxRecvWr)] public uint MaxRecvWr;
    [FieldOffset(NativeLayout.IbvQpInitAttr.Cap + NativeLayout.IbvQpCap.MaxSendSge)] public uint MaxSendSge;
    [FieldOffset(NativeLayout.IbvQpInitAttr.Cap + NativeLayout.IbvQpCap.MaxRecvSge)] public uint MaxRecvSge;
    [FieldOffset(NativeLayout.IbvQpInitAttr.Cap + NativeLayout.IbvQpCap.MaxInlineData)] public uint MaxInlineData;
    [FieldOffset(NativeLayout.IbvQpInitAttr.QpType)] public int QpType;
    [FieldOffset(NativeLayout.IbvQpInitAttr.SqSigAll)] public int SqSigAll;
}
