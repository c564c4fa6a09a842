using Iser.Transport.Iser.Verbs.Native;

namespace Iser.Transport.Iser.Verbs;

/// <summary>
/// A reliable-connected queue pair (ibv_qp). Posting goes straight to the provider's ops table; the
/// WRs and SGEs are caller-built (stackalloc) structs, so posting allocates nothing. WRs are
/// unsignaled unless they carry SendFlags.Signaled (the QP is created with sq_sig_all = 0).
/// </summary>
public sealed unsafe class QueuePair : IDisposable
{
    private readonly VerbsOps _ops;
    private readonly IntPtr _qp;

    private QueuePair(NativeObjectHandle handle, IntPtr qp, ProtectionDomain pd, CompletionQueue sendQueue, CompletionQueue receiveQueue, QueuePairCapacities granted)
    {
        Handle = handle;
        _qp = qp;
        _ops = pd.Device.Ops;
        ProtectionDomain = pd;
        SendCompletionQueue = sendQueue;
        ReceiveCompletionQueue = receiveQueue;
        Capacities = granted;
        QpNumber = *(uint*)((byte*)qp + NativeLayout.IbvQp.QpNum);
    }

    public ProtectionDomain ProtectionDomain { get; }

    public CompletionQueue SendCompletionQueue { get; }

    public CompletionQueue ReceiveCompletionQueue { get; }

    /// <summary>What the provider granted (at least what was asked).</summary>
    public QueuePairCapacities Capacities { get; }

    public uint QpNumber { get; }

    internal NativeObjectHandle Handle { get; }

    internal static QueuePair CreateRaw(ProtectionDomain pd, CompletionQueue sendQueue, CompletionQueue receiveQueue, QueuePairCapacities capacities)
    {
        IbvQpInitAttr attr = InitAttr(sendQueue, receiveQueue, capacities);
        IbvQpInitAttr* attrPointer = &attr;
        IntPtr pdPointer = pd.Handle.DangerousGetHandle();
        NativeObjectHandle handle = NativeObjectHandle.Create(
            NativeObjectKind.QueuePair, "ibv_create_qp", () => LibIbverbs.ibv_create_qp(pdPointer, (byte*)attrPointer), null,
            pd.Handle, sendQueue.Handle, receiveQueue.Handle);
        return new QueuePair(handle, handle.DangerousGetHandle(), pd, sendQueue, receiveQueue, Granted(attr));
    }

    /// <summary>rdma_create_qp on a cm id; the QP lives in the id and is destroyed with rdma_destroy_qp.</summary>
    /// <param name="srq">When given, the QP has no receive queue of its own: its receives come from the SRQ.</param>
    internal static QueuePair CreateOnCmId(NativeObjectHandle cmId, ProtectionDomain pd, CompletionQueue sendQueue, CompletionQueue receiveQueue,
        QueuePairCapacities capacities, SharedReceiveQueue? srq = null)
    {
        IbvQpInitAttr attr = InitAttr(sendQueue, receiveQueue, capacities);
        if (srq is not null)
        {
            attr.Srq = srq.Pointer;
            attr.MaxRecvWr = 0;
            attr.MaxRecvSge = 0;
        }

        IbvQpInitAttr* attrPointer = &attr;
        IntPtr id = cmId.DangerousGetHandle();
        IntPtr pdPointer = pd.Handle.DangerousGetHandle();
        NativeObjectHandle handle = NativeObjectHandle.Create(
            NativeObjectKind.CmQueuePair, "rdma_create_qp",
            () => LibRdmacm.rdma_create_qp(id, pdPointer, (byte*)attrPointer) == 0 ? id : IntPtr.Zero, null,
            srq is null ? [cmId, pd.Handle, sendQueue.Handle, receiveQueue.Handle] : [cmId, pd.Handle, sendQueue.Handle, receiveQueue.Handle, srq.Handle]);
        IntPtr qp = *(IntPtr*)((byte*)id + NativeLayout.RdmaCmId.Qp);
        return new QueuePair(handle, qp, pd, sendQueue, receiveQueue, Granted(attr)) { SharedReceiveQueue = srq };
    }

    /// <summary>The SRQ the QP receives through, or null when it has a receive queue of its own.</summary>
    public SharedReceiveQueue? SharedReceiveQueue { get; private init; }

    private static IbvQpInitAttr InitAttr(CompletionQueue sendQueue, CompletionQueue receiveQueue, QueuePairCapacities capacities) => new()
    {
        SendCq = sendQueue.Pointer,
        RecvCq = receiveQueue.Pointer,
        MaxSendWr = (uint)capacities.MaxSendWorkRequests,
        MaxRecvWr = (uint)capacities.MaxReceiveWorkRequests,
        MaxSendSge = (uint)capacities.MaxSendSge,
        MaxRecvSge = (uint)capacities.MaxReceiveSge,
        MaxInlineData = (uint)capacities.MaxInlineData,
        QpType = NativeLayout.Values.IbvQpTypeRc,
        SqSigAll = 0,
    };

    private static QueuePairCapacities Granted(in IbvQpInitAttr attr) =>
        new((int)attr.MaxSendWr, (int)attr.MaxRecvWr, (int)attr.MaxSendSge, (int)attr.MaxRecvSge, (int)attr.MaxInlineData);

    /// <summary>
    /// Posts a chain of send WRs (linked by Next). Never throws for a provider refusal: the result
    /// says how many WRs went in before the one the provider refused.
    /// </summary>
    public PostResult PostSend(IbvSendWr* first)
    {
        ArgumentNullException.ThrowIfNull(first);
        IbvSendWr* bad = null;
        int rc;
        using (HandleLease lease = new(Handle))
        {
            rc = _ops.PostSend(_qp, first, &bad);
        }

        return PostChain.Result(first, bad, rc);
    }

    /// <summary>Posts a chain of receive WRs; see <see cref="PostSend(IbvSendWr*)"/> for the result.</summary>
    public PostResult PostReceive(IbvRecvWr* first)
    {
        ArgumentNullException.ThrowIfNull(first);
        IbvRecvWr* bad = null;
        int rc;
        using (HandleLease lease = new(Handle))
        {
            rc = _ops.PostRecv(_qp, first, &bad);
        }

        return PostChain.Result(first, bad, rc);
    }

    /// <summary>Posts one send-queue WR (SEND, RDMA WRITE with remote address and rkey, or RDMA READ).</summary>
    public PostResult PostSend(ulong wrId, SendOpcode opcode, ReadOnlySpan<IbvSge> sges, SendFlags flags, ulong remoteAddress = 0, uint remoteKey = 0, uint immediateData = 0)
    {
        fixed (IbvSge* sgl = sges)
        {
            IbvSendWr wr = new()
            {
                WrId = wrId,
                SgList = sgl,
                NumSge = sges.Length,
                Opcode = opcode,
                SendFlags = flags,
                ImmData = immediateData,
                RemoteAddr = remoteAddress,
                Rkey = remoteKey,
            };
            return PostSend(&wr);
        }
    }

    /// <summary>Posts one receive WR.</summary>
    public PostResult PostReceive(ulong wrId, ReadOnlySpan<IbvSge> sges)
    {
        fixed (IbvSge* sgl = sges)
        {
            IbvRecvWr wr = new() { WrId = wrId, SgList = sgl, NumSge = sges.Length };
            return PostReceive(&wr);
        }
    }

    /// <summary>
    /// Moves the QP to the error state (ibv_modify_qp, IBV_QPS_ERR): every outstanding WR then
    /// completes with IBV_WC_WR_FLUSH_ERR, which is how a connection is drained before teardown.
    /// </summary>
    public void MoveToErrorState()
    {
        byte* attr = stackalloc byte[NativeLayout.IbvQpAttr.Size];
        new Span<byte>(attr, NativeLayout.IbvQpAttr.Size).Clear();
        *(int*)(attr + NativeLayout.IbvQpAttr.QpState) = NativeLayout.Values.IbvQpsErr;
        using HandleLease lease = new(Handle);
        VerbsException.ThrowIfFailed("ibv_modify_qp(IBV_QPS_ERR)", LibIbverbs.ibv_modify_qp(_qp, attr, NativeLayout.Values.IbvQpStateAttrMask));
    }

    public void Dispose() => Handle.Dispose();
}
