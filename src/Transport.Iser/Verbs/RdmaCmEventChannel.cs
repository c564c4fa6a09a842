using Iser.Transport.Iser.Verbs.Native;

namespace Iser.Transport.Iser.Verbs;

/// <summary>
/// An rdma_cm event channel: the fd on which the connection manager reports address/route
/// resolution, connect requests, establishment and disconnection for the ids created on it.
/// </summary>
public sealed unsafe class RdmaCmEventChannel : IDisposable
{
    public RdmaCmEventChannel()
    {
        RdmaRuntime.EnsureSupported();
        Handle = NativeObjectHandle.Create(NativeObjectKind.CmEventChannel, "rdma_create_event_channel", LibRdmacm.rdma_create_event_channel, null);
        FileDescriptor = *(int*)((byte*)Handle.DangerousGetHandle() + NativeLayout.RdmaEventChannel.Fd);
    }

    /// <summary>The channel's fd, for poll(2)/epoll.</summary>
    public int FileDescriptor { get; }

    internal NativeObjectHandle Handle { get; }

    /// <summary>
    /// Waits up to <paramref name="timeoutMs"/> (-1: forever) for the next event, copies it and
    /// acknowledges it. Null on timeout.
    /// </summary>
    public RdmaCmEvent? GetEvent(int timeoutMs)
    {
        using HandleLease lease = new(Handle);
        if (!LibC.WaitReadable(FileDescriptor, timeoutMs))
        {
            return null;
        }

        IntPtr evt;
        if (LibRdmacm.rdma_get_cm_event(lease.Pointer, &evt) != 0)
        {
            throw VerbsException.FromLastError("rdma_get_cm_event");
        }

        try
        {
            return RdmaCmEvent.Copy((RdmaCmEventNative*)evt);
        }
        finally
        {
            LibRdmacm.rdma_ack_cm_event(evt);
        }
    }

    public void Dispose() => Handle.Dispose();
}
