using Iser.Transport.Iser.Verbs.Native;

namespace Iser.Transport.Iser.Verbs;

/// <summary>
/// A shared receive queue (ibv_srq): one pool of posted receive buffers that every queue pair created on it draws
/// from, so receive memory follows the traffic of all connections rather than the worst case of each. A receive
/// completion arrives on the CQ of the queue pair whose message took the buffer (its qp_num says which); a queue pair
/// going to the error state flushes nothing of the SRQ's. Posting is thread-safe (the provider locks the SRQ).
/// </summary>
public sealed unsafe class SharedReceiveQueue : IDisposable
{
    private readonly VerbsOps _ops;
    private readonly IntPtr _srq;

    internal SharedReceiveQueue(ProtectionDomain pd, int maxWorkRequests, int maxSge)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxWorkRequests, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxSge, 1);
        _ops = pd.Device.Ops;
        if (_ops.PostSrqRecv == null)
        {
            throw new VerbsException("ibv_create_srq", $"the RDMA provider of {pd.Device.Name} has no post_srq_recv entry point (no shared receive queues).");
        }

        byte* attr = stackalloc byte[NativeLayout.IbvSrqInitAttr.Size];
        new Span<byte>(attr, NativeLayout.IbvSrqInitAttr.Size).Clear();
        *(uint*)(attr + NativeLayout.IbvSrqInitAttr.MaxWr) = (uint)maxWorkRequests;
        *(uint*)(attr + NativeLayout.IbvSrqInitAttr.MaxSge) = (uint)maxSge;
        IntPtr pdPointer = pd.Handle.DangerousGetHandle();
        Handle = NativeObjectHandle.Create(
            NativeObjectKind.SharedReceiveQueue, $"ibv_create_srq({maxWorkRequests} work requests)",
            () => LibIbverbs.ibv_create_srq(pdPointer, attr), null, pd.Handle);
        _srq = Handle.DangerousGetHandle();
        ProtectionDomain = pd;
        // The provider writes what it granted back into the attributes (at least what was asked).
        Capacity = (int)*(uint*)(attr + NativeLayout.IbvSrqInitAttr.MaxWr);
    }

    public ProtectionDomain ProtectionDomain { get; }

    /// <summary>Receive work requests the SRQ holds at once (what the provider granted).</summary>
    public int Capacity { get; }

    internal NativeObjectHandle Handle { get; }

    internal IntPtr Pointer => _srq;

    /// <summary>Posts one receive buffer (ibv_post_srq_recv). Never throws for a provider refusal: the result says so.</summary>
    public PostResult PostReceive(ulong wrId, in IbvSge sge)
    {
        fixed (IbvSge* sgl = &sge)
        {
            IbvRecvWr wr = new() { WrId = wrId, SgList = sgl, NumSge = 1 };
            IbvRecvWr* bad = null;
            int rc;
            using (HandleLease lease = new(Handle))
            {
                rc = _ops.PostSrqRecv(_srq, &wr, &bad);
            }

            return PostChain.Result(&wr, bad, rc);
        }
    }

    public void Dispose() => Handle.Dispose();
}
