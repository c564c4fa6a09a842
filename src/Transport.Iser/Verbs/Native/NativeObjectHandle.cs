using System.Runtime.InteropServices;

namespace Iser.Transport.Iser.Verbs.Native;

/// <summary>
/// A SafeHandle for one rdma-core object. It holds a reference (DangerousAddRef) on every parent
/// object it was created from (context &gt; PD &gt; CQ/MR &gt; QP; event channel &gt; cm_id), so a
/// parent is destroyed only after all its children, whatever order callers dispose them in.
/// </summary>
internal sealed class NativeObjectHandle : SafeHandle
{
    private readonly NativeObjectKind _kind;
    private SafeHandle[] _parents = [];
    private IDisposable? _pin;
    private volatile bool _disposeRequested;

    private NativeObjectHandle(NativeObjectKind kind)
        : base(IntPtr.Zero, ownsHandle: true)
    {
        _kind = kind;
    }

    public override bool IsInvalid => handle == IntPtr.Zero;

    internal NativeObjectKind Kind => _kind;

    /// <summary>
    /// True once Dispose was called. SafeHandle itself keeps accepting references until the last
    /// one is gone; the wrappers refuse new use from that moment (see ThrowIfDisposeRequested).
    /// </summary>
    internal bool IsDisposeRequested => _disposeRequested;

    /// <summary>Throws ObjectDisposedException once the owner disposed the handle, even while children still hold it.</summary>
    internal static void ThrowIfDisposeRequested(SafeHandle handle)
    {
        if (handle is NativeObjectHandle { IsDisposeRequested: true } native)
        {
            throw new ObjectDisposedException(native._kind.ToString(), $"The {native._kind} was disposed.");
        }
    }

    protected override void Dispose(bool disposing)
    {
        _disposeRequested = true;
        base.Dispose(disposing);
    }

    /// <summary>
    /// Takes a reference on each parent, runs the native constructor, and wraps its result.
    /// The constructor must return IntPtr.Zero on failure (errno set); then the references are
    /// dropped and a VerbsException naming <paramref name="operation"/> is thrown.
    /// <paramref name="pin"/> (optional) is disposed after the native object is released
    /// (used to unpin memory only once its registration is gone).
    /// </summary>
    internal static NativeObjectHandle Create(
        NativeObjectKind kind, string operation, Func<IntPtr> construct, IDisposable? pin, params SafeHandle[] parents)
    {
        int taken = 0;
        try
        {
            for (; taken < parents.Length; taken++)
            {
                ThrowIfDisposeRequested(parents[taken]);
                bool added = false;
                parents[taken].DangerousAddRef(ref added);
            }

            IntPtr value = construct();
            if (value == IntPtr.Zero)
            {
                throw VerbsException.FromLastError(operation);
            }

            NativeObjectHandle result = new(kind) { _parents = parents, _pin = pin };
            result.SetHandle(value);
            taken = 0; // the references now belong to the handle
            return result;
        }
        finally
        {
            for (int i = taken - 1; i >= 0; i--)
            {
                parents[i].DangerousRelease();
            }
        }
    }

    protected override bool ReleaseHandle()
    {
        bool released = _kind switch
        {
            NativeObjectKind.OwnedDeviceContext => LibIbverbs.ibv_close_device(handle) == 0,
            NativeObjectKind.BorrowedDeviceContext => true,
            NativeObjectKind.ProtectionDomain => LibIbverbs.ibv_dealloc_pd(handle) == 0,
            NativeObjectKind.MemoryRegion => LibIbverbs.ibv_dereg_mr(handle) == 0,
            NativeObjectKind.CompletionChannel => LibIbverbs.ibv_destroy_comp_channel(handle) == 0,
            NativeObjectKind.CompletionQueue => LibIbverbs.ibv_destroy_cq(handle) == 0,
            NativeObjectKind.SharedReceiveQueue => LibIbverbs.ibv_destroy_srq(handle) == 0,
            NativeObjectKind.QueuePair => LibIbverbs.ibv_destroy_qp(handle) == 0,
            NativeObjectKind.CmQueuePair => DestroyCmQp(handle),
            NativeObjectKind.CmEventChannel => DestroyEventChannel(handle),
            NativeObjectKind.CmId => LibRdmacm.rdma_destroy_id(handle) == 0,
            _ => false,
        };

        // Unpin only if the registration is gone: a failed dereg leaves the HCA able to touch it.
        if (released)
        {
            _pin?.Dispose();
        }

        for (int i = _parents.Length - 1; i >= 0; i--)
        {
            _parents[i].DangerousRelease();
        }

        return released;
    }

    private static bool DestroyCmQp(IntPtr cmId)
    {
        LibRdmacm.rdma_destroy_qp(cmId);
        return true;
    }

    private static bool DestroyEventChannel(IntPtr channel)
    {
        LibRdmacm.rdma_destroy_event_channel(channel);
        return true;
    }
}
