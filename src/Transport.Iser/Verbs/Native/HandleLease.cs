namespace Iser.Transport.Iser.Verbs.Native;

/// <summary>
/// Keeps a SafeHandle referenced for the duration of a native call (so a concurrent Dispose
/// cannot release the object mid-call) and exposes its raw pointer.
/// </summary>
internal readonly ref struct HandleLease
{
    private readonly System.Runtime.InteropServices.SafeHandle _handle;

    internal HandleLease(System.Runtime.InteropServices.SafeHandle handle)
    {
        NativeObjectHandle.ThrowIfDisposeRequested(handle);
        _handle = handle;
        bool added = false;
        handle.DangerousAddRef(ref added); // throws ObjectDisposedException once disposed
        Pointer = handle.DangerousGetHandle();
    }

    internal IntPtr Pointer { get; }

    public void Dispose() => _handle.DangerousRelease();
}
