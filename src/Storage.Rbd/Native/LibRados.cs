using System.Runtime.InteropServices;

namespace Iser.Storage.Rbd.Native;

/// <summary>The few librados calls a client needs to reach a pool (librados.h); return codes are 0 or -errno.</summary>
internal static partial class LibRados
{
    [LibraryImport(CephLibraries.Rados, EntryPoint = "rados_create", StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Create(out nint cluster, string? id);

    [LibraryImport(CephLibraries.Rados, EntryPoint = "rados_conf_read_file", StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int ConfReadFile(SafeRadosHandle cluster, string? path);

    [LibraryImport(CephLibraries.Rados, EntryPoint = "rados_conf_set", StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int ConfSet(SafeRadosHandle cluster, string option, string value);

    [LibraryImport(CephLibraries.Rados, EntryPoint = "rados_connect")]
    internal static partial int Connect(SafeRadosHandle cluster);

    [LibraryImport(CephLibraries.Rados, EntryPoint = "rados_shutdown")]
    internal static partial void Shutdown(nint cluster);

    [LibraryImport(CephLibraries.Rados, EntryPoint = "rados_ioctx_create", StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int IoContextCreate(SafeRadosHandle cluster, string pool, out nint ioContext);

    [LibraryImport(CephLibraries.Rados, EntryPoint = "rados_ioctx_destroy")]
    internal static partial void IoContextDestroy(nint ioContext);
}
