namespace Iser.Transport.Iser.Verbs;

/// <summary>enum ibv_wc_opcode.</summary>
public enum WorkCompletionOpcode
{
    Send = NativeLayout.Values.IbvWcSend,
    RdmaWrite = NativeLayout.Values.IbvWcRdmaWrite,
    RdmaRead = NativeLayout.Values.IbvWcRdmaRead,
    CompareAndSwap = 3,
    FetchAndAdd = 4,
    BindMw = 5,
    LocalInvalidate = 6,
    Recv = NativeLayout.Values.IbvWcRecv,
    RecvRdmaWithImm = NativeLayout.Values.IbvWcRecvRdmaWithImm,
}
