using System.Runtime.InteropServices;

namespace Iser.Transport.Iser.Verbs.Native;

/// <summary>struct ibv_device_attr, the fields the binding reads.</summary>
[StructLayout(LayoutKind.Explicit, Size = NativeLayout.IbvDeviceAttr.Size)]
internal unsafe struct IbvDeviceAttrNative
{
    [FieldOffset(NativeLayout.IbvDeviceAttr.FwVer)] public fixed byte FwVer[64];
    [FieldOffset(NativeLayout.IbvDeviceAttr.NodeGuid)] public ulong NodeGuid;
    [FieldOffset(NativeLayout.IbvDeviceAttr.MaxMrSize)] public ulong MaxMrSize;
    [FieldOffset(NativeLayout.IbvDeviceAttr.VendorId)] public uint VendorId;
    [FieldOffset(NativeLayout.IbvDeviceAttr.VendorPartId)] public uint VendorPartId;
    [FieldOffset(NativeLayout.IbvDeviceAttr.MaxQp)] public int MaxQp;
    [FieldOffset(NativeLayout.IbvDeviceAttr.MaxQpWr)] public int MaxQpWr;
    [FieldOffset(NativeLayout.IbvDeviceAttr.MaxSge)] public int MaxSge;
    [FieldOffset(NativeLayout.IbvDeviceAttr.MaxCq)] public int MaxCq;
    [FieldOffset(NativeLayout.IbvDeviceAttr.MaxCqe)] public int MaxCqe;
    [FieldOffset(NativeLayout.IbvDeviceAttr.MaxMr)] public int MaxMr;
    [FieldOffset(NativeLayout.IbvDeviceAttr.MaxPd)] public int MaxPd;
    [FieldOffset(NativeLayout.IbvDeviceAttr.MaxQpRdAtom)] public int MaxQpRdAtom;
    [FieldOffset(NativeLayout.IbvDeviceAttr.MaxQpInitRdAtom)] public int MaxQpInitRdAtom;
    [FieldOffset(NativeLayout.IbvDeviceAttr.MaxSrq)] public int MaxSrq;
    [FieldOffset(NativeLayout.IbvDeviceAttr.MaxSrqWr)] public int MaxSrqWr;
    [FieldOffset(NativeLayout.IbvDeviceAttr.PhysPortCnt)] public byte PhysPortCnt;
}
