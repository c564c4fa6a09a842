using System.Runtime.InteropServices;

namespace Iser.Storage.Rbd.Native;

/// <summary>
/// The librados calls for one small object beside an image (librados.h): atomic write operations (compare an xattr,
/// replace the data, set the xattr: all or nothing), whole reads, and watch/notify. Return codes are 0 (or a byte
/// count) or -errno.
/// </summary>
internal static unsafe partial class LibRadosObjects
{
    /// <summary>LIBRADOS_CMPXATTR_OP_EQ.</summary>
    internal const byte CompareEqual = 1;

    /// <summary>LIBRADOS_CREATE_EXCLUSIVE: creating an object that exists fails with EEXIST.</summary>
    internal const int CreateExclusive = 1;

    [LibraryImport(CephLibraries.Rados, EntryPoint = "rados_create_write_op")]
    internal static partial nint CreateWriteOp();

    [LibraryImport(CephLibraries.Rados, EntryPoint = "rados_release_write_op")]
    internal static partial void ReleaseWriteOp(nint op);

    [LibraryImport(CephLibraries.Rados, EntryPoint = "rados_write_op_create", StringMarshalling = StringMarshalling.Utf8)]
    internal static partial void WriteOpCreate(nint op, int exclusive, string? category);

    [LibraryImport(CephLibraries.Rados, EntryPoint = "rados_write_op_cmpxattr", StringMarshalling = StringMarshalling.Utf8)]
    internal static partial void WriteOpCompareXattr(nint op, string name, byte comparison, byte* value, nuint length);

    [LibraryImport(CephLibraries.Rados, EntryPoint = "rados_write_op_setxattr", StringMarshalling = StringMarshalling.Utf8)]
    internal static partial void WriteOpSetXattr(nint op, string name, byte* value, nuint length);

    [LibraryImport(CephLibraries.Rados, EntryPoint = "rados_write_op_write_full")]
    internal static partial void WriteOpWriteFull(nint op, byte* buffer, nuint length);

    [LibraryImport(CephLibraries.Rados, EntryPoint = "rados_write_op_operate", StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int WriteOpOperate(nint op, SafeIoContextHandle ioContext, string oid, nint mtime, int flags);

    [LibraryImport(CephLibraries.Rados, EntryPoint = "rados_read", StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Read(SafeIoContextHandle ioContext, string oid, byte* buffer, nuint length, ulong offset);

    [LibraryImport(CephLibraries.Rados, EntryPoint = "rados_watch2", StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Watch(SafeIoContextHandle ioContext, string oid, out ulong cookie,
        delegate* unmanaged[Cdecl]<nint, ulong, ulong, ulong, byte*, nuint, void> callback,
        delegate* unmanaged[Cdecl]<nint, ulong, int, void> errorCallback, nint argument);

    [LibraryImport(CephLibraries.Rados, EntryPoint = "rados_unwatch2")]
    internal static partial int Unwatch(SafeIoContextHandle ioContext, ulong cookie);

    [LibraryImport(CephLibraries.Rados, EntryPoint = "rados_watch_flush")]
    internal static partial int WatchFlush(nint cluster);

    [LibraryImport(CephLibraries.Rados, EntryPoint = "rados_ioctx_get_cluster")]
    internal static partial nint GetCluster(SafeIoContextHandle ioContext);

    [LibraryImport(CephLibraries.Rados, EntryPoint = "rados_notify2", StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Notify(SafeIoContextHandle ioContext, string oid, byte* buffer, int length, ulong timeoutMs, out nint reply, out nuint replyLength);

    [LibraryImport(CephLibraries.Rados, EntryPoint = "rados_notify_ack", StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int NotifyAck(SafeIoContextHandle ioContext, string oid, ulong notifyId, ulong cookie, byte* buffer, int length);

    /// <summary>This client's global id (the notifier id others see, and the id in a notify reply's acks).</summary>
    [LibraryImport(CephLibraries.Rados, EntryPoint = "rados_get_instance_id")]
    internal static partial ulong GetInstanceId(nint cluster);

    [LibraryImport(CephLibraries.Rados, EntryPoint = "rados_buffer_free")]
    internal static partial void BufferFree(nint buffer);
}
