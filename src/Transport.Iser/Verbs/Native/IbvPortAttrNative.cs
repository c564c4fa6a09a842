using System.Runtime.InteropServices;

namespace Iser.Transport.Iser.Verbs.Native;

/// <summary>struct ibv_port_attr, the fields the binding reads.</summary>
[StructLayout(LayoutKind.Explicit, Size = NativeLayout.IbvPortAttr.Size)]
internal struct IbvPortAttrNative
{
    [FieldOffset(NativeLayout.IbvPortAttr.State)] public int State;
    [FieldOffset(NativeLayout.IbvPortAttr.MaxMtu)] public int MaxMtu;
    [FieldOffset(NativeLayout.IbvPortAttr.ActiveMtu)] public int ActiveMtu;
    [FieldOffset(NativeLayout.IbvPortAttr.GidTblLen)] public int GidTblLen;
    [FieldOffset(NativeLayout.IbvPortAttr.MaxMsgSz)] public uint MaxMsgSz;
    [FieldOffset(NativeLayout.IbvPortAttr.LinkLayer)] public byte LinkLayer;
}
