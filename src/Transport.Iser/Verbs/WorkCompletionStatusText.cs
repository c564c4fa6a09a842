namespace Iser.Transport.Iser.Verbs;

/// <summary>Decodes a work-completion status to its IBV_WC_* name and a sentence a user can act on.</summary>
public static class WorkCompletionStatusText
{
    /// <summary>The verbs.h enumerator name, e.g. "IBV_WC_WR_FLUSH_ERR"; "IBV_WC_(n)" for unknown values.</summary>
    public static string Name(WorkCompletionStatus status) => status switch
    {
        WorkCompletionStatus.Success => "IBV_WC_SUCCESS",
        WorkCompletionStatus.LocLenErr => "IBV_WC_LOC_LEN_ERR",
        WorkCompletionStatus.LocQpOpErr => "IBV_WC_LOC_QP_OP_ERR",
        WorkCompletionStatus.LocEecOpErr => "IBV_WC_LOC_EEC_OP_ERR",
        WorkCompletionStatus.LocProtErr => "IBV_WC_LOC_PROT_ERR",
        WorkCompletionStatus.WrFlushErr => "IBV_WC_WR_FLUSH_ERR",
        WorkCompletionStatus.MwBindErr => "IBV_WC_MW_BIND_ERR",
        WorkCompletionStatus.BadRespErr => "IBV_WC_BAD_RESP_ERR",
        WorkCompletionStatus.LocAccessErr => "IBV_WC_LOC_ACCESS_ERR",
        WorkCompletionStatus.RemInvReqErr => "IBV_WC_REM_INV_REQ_ERR",
        WorkCompletionStatus.RemAccessErr => "IBV_WC_REM_ACCESS_ERR",
        WorkCompletionStatus.RemOpErr => "IBV_WC_REM_OP_ERR",
        WorkCompletionStatus.RetryExcErr => "IBV_WC_RETRY_EXC_ERR",
        WorkCompletionStatus.RnrRetryExcErr => "IBV_WC_RNR_RETRY_EXC_ERR",
        WorkCompletionStatus.LocRddViolErr => "IBV_WC_LOC_RDD_VIOL_ERR",
        WorkCompletionStatus.RemInvRdReqErr => "IBV_WC_REM_INV_RD_REQ_ERR",
        WorkCompletionStatus.RemAbortErr => "IBV_WC_REM_ABORT_ERR",
        WorkCompletionStatus.InvEecnErr => "IBV_WC_INV_EECN_ERR",
        WorkCompletionStatus.InvEecStateErr => "IBV_WC_INV_EEC_STATE_ERR",
        WorkCompletionStatus.FatalErr => "IBV_WC_FATAL_ERR",
        WorkCompletionStatus.RespTimeoutErr => "IBV_WC_RESP_TIMEOUT_ERR",
        WorkCompletionStatus.GeneralErr => "IBV_WC_GENERAL_ERR",
        WorkCompletionStatus.TmErr => "IBV_WC_TM_ERR",
        WorkCompletionStatus.TmRndvIncomplete => "IBV_WC_TM_RNDV_INCOMPLETE",
        _ => $"IBV_WC_({(int)status})",
    };

    /// <summary>A short sentence saying what went wrong.</summary>
    public static string Sentence(WorkCompletionStatus status) => status switch
    {
        WorkCompletionStatus.Success => "The work request completed successfully.",
        WorkCompletionStatus.LocLenErr => "A local length error: the received message was longer than the posted receive buffer, or a send was longer than the port allows.",
        WorkCompletionStatus.LocQpOpErr => "A local queue pair operation error: the work request was inconsistent with the queue pair (for example too many scatter/gather elements or inline data too long).",
        WorkCompletionStatus.LocEecOpErr => "A local end-to-end context operation error.",
        WorkCompletionStatus.LocProtErr => "A local protection error: a buffer of the work request is not inside a memory region registered with the queue pair's protection domain, or lacks the needed access rights.",
        WorkCompletionStatus.WrFlushErr => "The work request was flushed because the queue pair entered the error state (for example after a disconnect).",
        WorkCompletionStatus.MwBindErr => "A memory window bind failed.",
        WorkCompletionStatus.BadRespErr => "The peer sent an unexpected transport-layer response.",
        WorkCompletionStatus.LocAccessErr => "A local access error: a protection error on a local buffer during an RDMA READ response or atomic operation.",
        WorkCompletionStatus.RemInvReqErr => "The peer reported an invalid request (for example a message longer than its receive buffer or an operation it does not support).",
        WorkCompletionStatus.RemAccessErr => "The peer refused remote access: the remote address, length or rkey is not valid for an RDMA READ or WRITE there.",
        WorkCompletionStatus.RemOpErr => "The peer could not complete the operation (a remote operation error).",
        WorkCompletionStatus.RetryExcErr => "The transport retry count was exceeded: the peer did not answer (it may be gone, or the link is down).",
        WorkCompletionStatus.RnrRetryExcErr => "The receiver-not-ready retry count was exceeded: the peer had no receive buffer posted.",
        WorkCompletionStatus.LocRddViolErr => "A local RDD violation.",
        WorkCompletionStatus.RemInvRdReqErr => "The peer reported an invalid RD request.",
        WorkCompletionStatus.RemAbortErr => "The peer aborted the operation.",
        WorkCompletionStatus.InvEecnErr => "An invalid end-to-end context number was detected.",
        WorkCompletionStatus.InvEecStateErr => "An invalid end-to-end context state was detected.",
        WorkCompletionStatus.FatalErr => "A fatal device error occurred.",
        WorkCompletionStatus.RespTimeoutErr => "A response timed out.",
        WorkCompletionStatus.GeneralErr => "A general error reported by the device.",
        WorkCompletionStatus.TmErr => "A tag-matching error.",
        WorkCompletionStatus.TmRndvIncomplete => "A tag-matching rendezvous did not complete.",
        _ => "An unknown work completion status.",
    };

    /// <summary>"IBV_WC_WR_FLUSH_ERR: The work request was flushed ..." plus the vendor syndrome when non-zero.</summary>
    public static string Describe(WorkCompletionStatus status, uint vendorError = 0)
    {
        string text = $"{Name(status)}: {Sentence(status)}";
        return vendorError == 0 ? text : $"{text} (vendor error 0x{vendorError:x})";
    }
}
