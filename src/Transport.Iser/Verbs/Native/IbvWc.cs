using System.Runtime.InteropServices;

namespace Iser.Transport.Iser.Verbs;

/// <summary>struct ibv_wc: one work completion as ibv_poll_cq writes it.</summary>
[StructLayout(LayoutKind.Explicit, Size = NativeLayout.IbvWc.Size)]
public struct IbvWc
{
    [FieldOffset(NativeLayout.IbvWc.WrId)] public ulong WrId;
    [FieldOffset(NativeLayout.IbvWc.Status)] public WorkCompletionStatus Status;
    [FieldOffset(NativeLayout.IbvWc.Opcode)] public WorkCompletionOpcode Opcode;
    [FieldOffset(NativeLayout.IbvWc.VendorErr)] public uint VendorErr;
    [FieldOffset(NativeLayout.IbvWc.ByteLen)] public uint ByteLen;
    /// <summary>Immediate data, network byte order (union with invalidated_rkey).</summary>
    [FieldOffset(NativeLayout.IbvWc.ImmData)] public uint ImmData;
    [FieldOffset(NativeLayout.IbvWc.QpNum)] public uint QpNum;
    [FieldOffset(NativeLayout.IbvWc.WcFlags)] public WorkCompletionFlags WcFlags;

    public readonly bool IsSuccess => Status == WorkCompletionStatus.Success;

    /// <summary>"IBV_WC_WR_FLUSH_ERR: ..." style text for logs and exceptions.</summary>
    public readonly string StatusText => WorkCompletionStatusText.Describe(Status, VendorErr);
}
