namespace Iser.Transport.Iser.Verbs;

/// <summary>enum ibv_wr_opcode (the members this binding posts).</summary>
public enum SendOpcode
{
    RdmaWrite = NativeLayout.Values.IbvWrRdmaWrite,
    RdmaWriteWithImm = NativeLayout.Values.IbvWrRdmaWriteWithImm,
    Send = NativeLayout.Values.IbvWrSend,
    SendWithImm = NativeLayout.Values.IbvWrSendWithImm,
    RdmaRead = NativeLayout.Values.IbvWrRdmaRead,
    SendWithInvalidate = NativeLayout.Values.IbvWrSendWithInv,
}
