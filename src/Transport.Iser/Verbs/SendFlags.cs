namespace Iser.Transport.Iser.Verbs;

/// <summary>enum ibv_send_flags.</summary>
[Flags]
public enum SendFlags
{
    None = 0,
    /// <summary>Generate a work completion for this WR (the QP is created with sq_sig_all = 0).</summary>
    Signaled = NativeLayout.Values.IbvSendSignaled,
    Solicited = NativeLayout.Values.IbvSendSolicited,
    Inline = NativeLayout.Values.IbvSendInline,
}
