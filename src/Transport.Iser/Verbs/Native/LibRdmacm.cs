using System.Runtime.InteropServices;

namespace Iser.Transport.Iser.Verbs.Native;

/// <summary>
/// Exported entry points of librdmacm.so.1. Every int-returning call answers 0 or -1 with errno set.
/// </summary>
internal static unsafe partial class LibRdmacm
{
    static LibRdmacm() => NativeLibraries.EnsureResolverRegistered();

    [LibraryImport(NativeLibraries.Rdmacm, SetLastError = true)]
    internal static partial IntPtr rdma_create_event_channel();

    [LibraryImport(NativeLibraries.Rdmacm)]
    internal static partial void rdma_destroy_event_channel(IntPtr channel);

    [LibraryImport(NativeLibraries.Rdmacm, SetLastError = true)]
    internal static partial int rdma_create_id(IntPtr channel, IntPtr* id, IntPtr context, int portSpace);

    [LibraryImport(NativeLibraries.Rdmacm, SetLastError = true)]
    internal static partial int rdma_destroy_id(IntPtr id);

    [LibraryImport(NativeLibraries.Rdmacm, SetLastError = true)]
    internal static partial int rdma_bind_addr(IntPtr id, byte* addr);

    [LibraryImport(NativeLibraries.Rdmacm, SetLastError = true)]
    internal static partial int rdma_listen(IntPtr id, int backlog);

    [LibraryImport(NativeLibraries.Rdmacm, SetLastError = true)]
    internal static partial int rdma_resolve_addr(IntPtr id, byte* srcAddr, byte* dstAddr, int timeoutMs);

    [LibraryImport(NativeLibraries.Rdmacm, SetLastError = true)]
    internal static partial int rdma_resolve_route(IntPtr id, int timeoutMs);

    [LibraryImport(NativeLibraries.Rdmacm, SetLastError = true)]
    internal static partial int rdma_connect(IntPtr id, byte* connParam);

    [LibraryImport(NativeLibraries.Rdmacm, SetLastError = true)]
    internal static partial int rdma_accept(IntPtr id, byte* connParam);

    [LibraryImport(NativeLibraries.Rdmacm, SetLastError = true)]
    internal static partial int rdma_reject(IntPtr id, byte* privateData, byte privateDataLen);

    [LibraryImport(NativeLibraries.Rdmacm, SetLastError = true)]
    internal static partial int rdma_disconnect(IntPtr id);

    [LibraryImport(NativeLibraries.Rdmacm, SetLastError = true)]
    internal static partial int rdma_get_cm_event(IntPtr channel, IntPtr* evt);

    [LibraryImport(NativeLibraries.Rdmacm, SetLastError = true)]
    internal static partial int rdma_ack_cm_event(IntPtr evt);

    [LibraryImport(NativeLibraries.Rdmacm, SetLastError = true)]
    internal static partial int rdma_create_qp(IntPtr id, IntPtr pd, byte* qpInitAttr);

    [LibraryImport(NativeLibraries.Rdmacm)]
    internal static partial void rdma_destroy_qp(IntPtr id);

    [LibraryImport(NativeLibraries.Rdmacm, SetLastError = true)]
    internal static partial int rdma_set_option(IntPtr id, int level, int optname, void* optval, nuint optlen);

    [LibraryImport(NativeLibraries.Rdmacm, SetLastError = true)]
    internal static partial int rdma_migrate_id(IntPtr id, IntPtr channel);

    [LibraryImport(NativeLibraries.Rdmacm)]
    internal static partial IntPtr rdma_event_str(int evt);

    /// <summary>Returns the port in network byte order.</summary>
    [LibraryImport(NativeLibraries.Rdmacm)]
    internal static partial ushort rdma_get_src_port(IntPtr id);

    /// <summary>Returns the port in network byte order.</summary>
    [LibraryImport(NativeLibraries.Rdmacm)]
    internal static partial ushort rdma_get_dst_port(IntPtr id);
}
