using System.Runtime.InteropServices;

namespace Iser.Storage.Rbd.Native;

/// <summary>An rbd_image_t; it holds its I/O context so the pool (and cluster) outlive it. Closing waits for its I/O.</summary>
internal sealed class SafeRbdImageHandle : SafeHandle
{
    private readonly SafeIoContextHandle _ioContext;

    public SafeRbdImageHandle(nint handle, SafeIoContextHandle ioContext) : base(0, ownsHandle: true)
    {
        bool added = false;
        ioContext.DangerousAddRef(ref added);
        _ioContext = ioContext;
        SetHandle(handle);
    }

    public override bool IsInvalid => handle == 0;

    protected override bool ReleaseHandle()
    {
        LibRbd.Close(handle);
        _ioContext.DangerousRelease();
        return true;
    }
}
