using System.Runtime.InteropServices;

namespace Iser.Transport.Iser.Verbs.Native;

/// <summary>struct rdma_cm_event as rdma_get_cm_event hands it out (read-only; copied before ack).</summary>
[StructLayout(LayoutKind.Explicit, Size = NativeLayout.RdmaCmEvent.Size)]
internal struct RdmaCmEventNative
{
    [FieldOffset(NativeLayout.RdmaCmEvent.Id)] public IntPtr Id;
    [FieldOffset(NativeLayout.RdmaCmEvent.ListenId)] public IntPtr ListenId;
    [FieldOffset(NativeLayout.RdmaCmEvent.Event)] public int Event;
    [FieldOffset(NativeLayout.RdmaCmEvent.Status)] public int Status;
    [FieldOffset(NativeLayout.RdmaCmEvent.Conn)] public RdmaConnParam Conn;
}
