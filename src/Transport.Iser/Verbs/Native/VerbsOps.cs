namespace Iser.Transport.Iser.Verbs.Native;

/// <summary>
/// The data-path entry points. ibv_post_send, ibv_post_recv, ibv_poll_cq and ibv_req_notify_cq
/// are static inline in verbs.h: they call through the ops table embedded in struct ibv_context.
/// The provider's function pointers are read once per context at the offsets in NativeLayout.
/// post_send/post_recv/req_notify_cq return 0 or an errno value; poll_cq returns the number of
/// completions or a negative value on error.
/// </summary>
internal readonly unsafe struct VerbsOps
{
    internal readonly delegate* unmanaged<IntPtr, int, IbvWc*, int> PollCq;
    internal readonly delegate* unmanaged<IntPtr, int, int> ReqNotifyCq;
    internal readonly delegate* unmanaged<IntPtr, IbvSendWr*, IbvSendWr**, int> PostSend;
    internal readonly delegate* unmanaged<IntPtr, IbvRecvWr*, IbvRecvWr**, int> PostRecv;

    /// <summary>post_srq_recv; zero when the provider has no SRQ support (checked when an SRQ is made, not here).</summary>
    internal readonly delegate* unmanaged<IntPtr, IbvRecvWr*, IbvRecvWr**, int> PostSrqRecv;

    private VerbsOps(IntPtr context)
    {
        byte* ctx = (byte*)context;
        PollCq = (delegate* unmanaged<IntPtr, int, IbvWc*, int>)ReadSlot(ctx, NativeLayout.IbvContext.PollCqSlot, "poll_cq");
        ReqNotifyCq = (delegate* unmanaged<IntPtr, int, int>)ReadSlot(ctx, NativeLayout.IbvContext.ReqNotifyCqSlot, "req_notify_cq");
        PostSend = (delegate* unmanaged<IntPtr, IbvSendWr*, IbvSendWr**, int>)ReadSlot(ctx, NativeLayout.IbvContext.PostSendSlot, "post_send");
        PostRecv = (delegate* unmanaged<IntPtr, IbvRecvWr*, IbvRecvWr**, int>)ReadSlot(ctx, NativeLayout.IbvContext.PostRecvSlot, "post_recv");
        PostSrqRecv = (delegate* unmanaged<IntPtr, IbvRecvWr*, IbvRecvWr**, int>)*(IntPtr*)(ctx + NativeLayout.IbvContext.PostSrqRecvSlot);
    }

    internal static VerbsOps Read(IntPtr context) => new(context);

    private static IntPtr ReadSlot(byte* ctx, int offset, string name)
    {
        IntPtr fn = *(IntPtr*)(ctx + offset);
        if (fn == IntPtr.Zero)
        {
            throw new VerbsException("reading the ibv_context ops table", $"the RDMA provider has no {name} entry point.");
        }

        return fn;
    }
}
