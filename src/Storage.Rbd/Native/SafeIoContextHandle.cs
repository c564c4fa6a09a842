using System.Runtime.InteropServices;

namespace Iser.Storage.Rbd.Native;

/// <summary>A rados_ioctx_t (one pool); it holds its cluster handle so the cluster outlives it.</summary>
internal sealed class SafeIoContextHandle : SafeHandle
{
    private readonly SafeRadosHandle _cluster;

    public SafeIoContextHandle(nint handle, SafeRadosHandle cluster) : base(0, ownsHandle: true)
    {
        bool added = false;
        cluster.DangerousAddRef(ref added);
        _cluster = cluster;
        SetHandle(handle);
    }

    public override bool IsInvalid => handle == 0;

    protected override bool ReleaseHandle()
    {
        LibRados.IoContextDestroy(handle);
        _cluster.DangerousRelease();
        return true;
    }
}
