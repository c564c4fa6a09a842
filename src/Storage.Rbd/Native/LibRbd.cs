using System.Runtime.InteropServices;

namespace Iser.Storage.Rbd.Native;

/// <summary>
/// The librbd calls an RBD LUN uses (librbd.h): open and close, size, asynchronous I/O with completions, update
/// watches. Return codes are 0 (or a byte count) or -errno. Buffers passed to rbd_aio_* must stay pinned until the
/// completion's callback runs.
/// </summary>
internal static unsafe partial class LibRbd
{
    [LibraryImport(CephLibraries.Rbd, EntryPoint = "rbd_open", StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Open(SafeIoContextHandle ioContext, string name, out nint image, string? snapshot);

    [LibraryImport(CephLibraries.Rbd, EntryPoint = "rbd_open_read_only", StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int OpenReadOnly(SafeIoContextHandle ioContext, string name, out nint image, string? snapshot);

    [LibraryImport(CephLibraries.Rbd, EntryPoint = "rbd_close")]
    internal static partial int Close(nint image);

    [LibraryImport(CephLibraries.Rbd, EntryPoint = "rbd_get_size")]
    internal static partial int GetSize(SafeRbdImageHandle image, out ulong size);

    [LibraryImport(CephLibraries.Rbd, EntryPoint = "rbd_get_stripe_unit")]
    internal static partial int GetStripeUnit(SafeRbdImageHandle image, out ulong stripeUnit);

    [LibraryImport(CephLibraries.Rbd, EntryPoint = "rbd_resize")]
    internal static partial int Resize(SafeRbdImageHandle image, ulong size);

    [LibraryImport(CephLibraries.Rbd, EntryPoint = "rbd_aio_create_completion")]
    internal static partial int CreateCompletion(nint argument, delegate* unmanaged[Cdecl]<nint, nint, void> callback, out nint completion);

    [LibraryImport(CephLibraries.Rbd, EntryPoint = "rbd_aio_get_return_value")]
    internal static partial nint GetReturnValue(nint completion);

    [LibraryImport(CephLibraries.Rbd, EntryPoint = "rbd_aio_release")]
    internal static partial void Release(nint completion);

    [LibraryImport(CephLibraries.Rbd, EntryPoint = "rbd_aio_read")]
    internal static partial int Read(SafeRbdImageHandle image, ulong offset, nuint length, byte* buffer, nint completion);

    [LibraryImport(CephLibraries.Rbd, EntryPoint = "rbd_aio_write")]
    internal static partial int Write(SafeRbdImageHandle image, ulong offset, nuint length, byte* buffer, nint completion);

    [LibraryImport(CephLibraries.Rbd, EntryPoint = "rbd_aio_discard")]
    internal static partial int Discard(SafeRbdImageHandle image, ulong offset, ulong length, nint completion);

    [LibraryImport(CephLibraries.Rbd, EntryPoint = "rbd_aio_writesame")]
    internal static partial int WriteSame(SafeRbdImageHandle image, ulong offset, nuint length, byte* pattern, nuint patternLength, nint completion, int opFlags);

    [LibraryImport(CephLibraries.Rbd, EntryPoint = "rbd_aio_compare_and_write")]
    internal static partial nint CompareAndWrite(SafeRbdImageHandle image, ulong offset, nuint length, byte* compare, byte* write, nint completion, ulong* mismatchOffset, int opFlags);

    [LibraryImport(CephLibraries.Rbd, EntryPoint = "rbd_aio_flush")]
    internal static partial int Flush(SafeRbdImageHandle image, nint completion);

    [LibraryImport(CephLibraries.Rbd, EntryPoint = "rbd_get_id")]
    internal static partial int GetId(SafeRbdImageHandle image, byte* id, nuint length);

    [LibraryImport(CephLibraries.Rbd, EntryPoint = "rbd_update_watch")]
    internal static partial int UpdateWatch(SafeRbdImageHandle image, out ulong handle, delegate* unmanaged[Cdecl]<nint, void> callback, nint argument);

    [LibraryImport(CephLibraries.Rbd, EntryPoint = "rbd_update_unwatch")]
    internal static partial int UpdateUnwatch(SafeRbdImageHandle image, ulong handle);
}
