using Iser.Transport.Iser.Verbs.Native;

namespace Iser.Transport.Iser.Verbs;

/// <summary>
/// A completion event channel (ibv_comp_channel): a file descriptor that becomes readable when an
/// armed CQ attached to it gets a completion.
/// </summary>
public sealed unsafe class CompletionChannel : IDisposable
{
    internal CompletionChannel(RdmaDevice device)
    {
        Device = device;
        IntPtr context = device.Handle.DangerousGetHandle();
        Handle = NativeObjectHandle.Create(
            NativeObjectKind.CompletionChannel, "ibv_create_comp_channel", () => LibIbverbs.ibv_create_comp_channel(context), null, device.Handle);
        FileDescriptor = *(int*)((byte*)Handle.DangerousGetHandle() + NativeLayout.IbvCompChannel.Fd);
    }

    public RdmaDevice Device { get; }

    /// <summary>The channel's fd, for poll(2)/epoll.</summary>
    public int FileDescriptor { get; }

    internal NativeObjectHandle Handle { get; }

    /// <summary>
    /// Waits up to <paramref name="timeoutMs"/> for a CQ event, takes it with ibv_get_cq_event and
    /// acknowledges it at once. Returns the CQ pointer that fired, or IntPtr.Zero on timeout.
    /// </summary>
    internal IntPtr WaitForEvent(int timeoutMs)
    {
        using HandleLease lease = new(Handle);
        if (!LibC.WaitReadable(FileDescriptor, timeoutMs))
        {
            return IntPtr.Zero;
        }

        IntPtr cq;
        IntPtr cqContext;
        if (LibIbverbs.ibv_get_cq_event(lease.Pointer, &cq, &cqContext) != 0)
        {
            throw VerbsException.FromLastError("ibv_get_cq_event");
        }

        // Acknowledge right away: ibv_destroy_cq waits for every event to be acknowledged.
        LibIbverbs.ibv_ack_cq_events(cq, 1);
        return cq;
    }

    public void Dispose() => Handle.Dispose();
}
