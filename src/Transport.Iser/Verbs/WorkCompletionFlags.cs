namespace Iser.Transport.Iser.Verbs;

/// <summary>enum ibv_wc_flags.</summary>
[Flags]
public enum WorkCompletionFlags
{
    None = 0,
    Grh = 1,
    WithImm = NativeLayout.Values.IbvWcWithImm,
    IpCsumOk = 4,
    WithInvalidate = NativeLayout.Values.IbvWcWithInv,
}
