namespace Iser.Transport.Iser.Verbs;

/// <summary>enum ibv_wc_status, in header order (IBV_WC_SUCCESS = 0 ... IBV_WC_TM_RNDV_INCOMPLETE).</summary>
public enum WorkCompletionStatus
{
    Success = NativeLayout.Values.IbvWcSuccess,
    LocLenErr,
    LocQpOpErr,
    LocEecOpErr,
    LocProtErr,
    WrFlushErr,
    MwBindErr,
    BadRespErr,
    LocAccessErr,
    RemInvReqErr,
    RemAccessErr,
    RemOpErr,
    RetryExcErr,
    RnrRetryExcErr,
    LocRddViolErr,
    RemInvRdReqErr,
    RemAbortErr,
    InvEecnErr,
    InvEecStateErr,
    FatalErr,
    RespTimeoutErr,
    GeneralErr,
    TmErr,
    TmRndvIncomplete,
}
