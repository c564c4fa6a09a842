using System.Runtime.InteropServices;

namespace Iser.Transport.Iser.Verbs.Native;

/// <summary>struct rdma_conn_param (also the param.conn member of struct rdma_cm_event).</summary>
[StructLayout(LayoutKind.Explicit, Size = NativeLayout.RdmaConnParam.Size)]
internal unsafe struct RdmaConnParam
{
    [FieldOffset(NativeLayout.RdmaConnParam.PrivateData)] public byte* PrivateData;
    [FieldOffset(NativeLayout.RdmaConnParam.PrivateDataLen)] public byte PrivateDataLen;
    [FieldOffset(NativeLayout.RdmaConnParam.ResponderResources)] public byte ResponderResources;
    [FieldOffset(NativeLayout.RdmaConnParam.InitiatorDepth)] public byte InitiatorDepth;
    [FieldOffset(NativeLayout.RdmaConnParam.FlowControl)] public byte FlowControl;
    [FieldOffset(NativeLayout.RdmaConnParam.RetryCount)] public byte RetryCount;
    [FieldOffset(NativeLayout.RdmaConnParam.RnrRetryCount)] public byte RnrRetryCount;
    [FieldOffset(NativeLayout.RdmaConnParam.Srq)] public byte Srq;
    [FieldOffset(NativeLayout.RdmaConnParam.QpNum)] public uint QpNum;
}
