using System.Runtime.InteropServices;

namespace Iser.Storage.Rbd.Native;

/// <summary>A rados_t: the connection to a cluster, shut down when the last I/O context over it is gone.</summary>
internal sealed class SafeRadosHandle : SafeHandle
{
    public SafeRadosHandle(nint handle) : base(0, ownsHandle: true) => SetHandle(handle);

    public override bool IsInvalid => handle == 0;

    protected override bool ReleaseHandle()
    {
        LibRados.Shutdown(handle);
        return true;
    }
}
