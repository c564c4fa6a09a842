using System.Runtime.InteropServices;

namespace Iser.Transport.Iser.Verbs.Native;

/// <summary>
/// Exported control-path entry points of libibverbs.so.1 (default symbol versions, IBVERBS_1.1+).
/// Pointers to rdma-core objects are passed as IntPtr; struct arguments as pointers to buffers laid
/// out by NativeLayout. The data path (post/poll/notify) is not exported: see VerbsOps.
/// </summary>
internal static unsafe partial class LibIbverbs
{
    static LibIbverbs() => NativeLibraries.EnsureResolverRegistered();

    [LibraryImport(NativeLibraries.Ibverbs, SetLastError = true)]
    internal static partial IntPtr ibv_get_device_list(int* numDevices);

    [LibraryImport(NativeLibraries.Ibverbs)]
    internal static partial void ibv_free_device_list(IntPtr list);

    [LibraryImport(NativeLibraries.Ibverbs)]
    internal static partial IntPtr ibv_get_device_name(IntPtr device);

    [LibraryImport(NativeLibraries.Ibverbs, SetLastError = true)]
    internal static partial IntPtr ibv_open_device(IntPtr device);

    [LibraryImport(NativeLibraries.Ibverbs, SetLastError = true)]
    internal static partial int ibv_close_device(IntPtr context);

    /// <summary>Returns 0 or an errno value.</summary>
    [LibraryImport(NativeLibraries.Ibverbs, SetLastError = true)]
    internal static partial int ibv_query_device(IntPtr context, byte* deviceAttr);

    /// <summary>
    /// The exported symbol takes a "struct _compat_ibv_port_attr *"; verbs.h's inline
    /// ibv_query_port falls back to it with a zeroed, full-sized struct ibv_port_attr, which is
    /// what the binding passes too (the extended query_port lives in verbs_context at a negative
    /// offset, which this binding avoids). Returns 0 or an errno value.
    /// </summary>
    [LibraryImport(NativeLibraries.Ibverbs, EntryPoint = "ibv_query_port", SetLastError = true)]
    internal static partial int ibv_query_port_compat(IntPtr context, byte portNum, byte* portAttr);

    [LibraryImport(NativeLibraries.Ibverbs, SetLastError = true)]
    internal static partial int ibv_query_gid(IntPtr context, byte portNum, int index, byte* gid);

    [LibraryImport(NativeLibraries.Ibverbs, SetLastError = true)]
    internal static partial IntPtr ibv_alloc_pd(IntPtr context);

    [LibraryImport(NativeLibraries.Ibverbs, SetLastError = true)]
    internal static partial int ibv_dealloc_pd(IntPtr pd);

    /// <summary>
    /// The exported ibv_reg_mr (not the verbs.h macro, which picks ibv_reg_mr_iova2 only for
    /// IBV_ACCESS_OPTIONAL_RANGE flags the binding never uses).
    /// </summary>
    [LibraryImport(NativeLibraries.Ibverbs, SetLastError = true)]
    internal static partial IntPtr ibv_reg_mr(IntPtr pd, void* addr, nuint length, int access);

    [LibraryImport(NativeLibraries.Ibverbs, SetLastError = true)]
    internal static partial int ibv_dereg_mr(IntPtr mr);

    [LibraryImport(NativeLibraries.Ibverbs, SetLastError = true)]
    internal static partial IntPtr ibv_create_comp_channel(IntPtr context);

    [LibraryImport(NativeLibraries.Ibverbs, SetLastError = true)]
    internal static partial int ibv_destroy_comp_channel(IntPtr channel);

    [LibraryImport(NativeLibraries.Ibverbs, SetLastError = true)]
    internal static partial IntPtr ibv_create_cq(IntPtr context, int cqe, IntPtr cqContext, IntPtr channel, int compVector);

    [LibraryImport(NativeLibraries.Ibverbs, SetLastError = true)]
    internal static partial int ibv_destroy_cq(IntPtr cq);

    /// <summary>attr: a struct ibv_srq_init_attr (NativeLayout.IbvSrqInitAttr); the provider writes the granted sizes back.</summary>
    [LibraryImport(NativeLibraries.Ibverbs, SetLastError = true)]
    internal static partial IntPtr ibv_create_srq(IntPtr pd, byte* attr);

    [LibraryImport(NativeLibraries.Ibverbs, SetLastError = true)]
    internal static partial int ibv_destroy_srq(IntPtr srq);

    [LibraryImport(NativeLibraries.Ibverbs, SetLastError = true)]
    internal static partial int ibv_get_cq_event(IntPtr channel, IntPtr* cq, IntPtr* cqContext);

    [LibraryImport(NativeLibraries.Ibverbs)]
    internal static partial void ibv_ack_cq_events(IntPtr cq, uint count);

    [LibraryImport(NativeLibraries.Ibverbs, SetLastError = true)]
    internal static partial IntPtr ibv_create_qp(IntPtr pd, byte* qpInitAttr);

    [LibraryImport(NativeLibraries.Ibverbs, SetLastError = true)]
    internal static partial int ibv_destroy_qp(IntPtr qp);

    /// <summary>Returns 0 or an errno value.</summary>
    [LibraryImport(NativeLibraries.Ibverbs, SetLastError = true)]
    internal static partial int ibv_modify_qp(IntPtr qp, byte* attr, int attrMask);

    [LibraryImport(NativeLibraries.Ibverbs)]
    internal static partial IntPtr ibv_wc_status_str(int status);
}
