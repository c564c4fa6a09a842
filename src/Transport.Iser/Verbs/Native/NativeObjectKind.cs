namespace Iser.Transport.Iser.Verbs.Native;

/// <summary>Which rdma-core destructor releases a NativeObjectHandle.</summary>
internal enum NativeObjectKind
{
    /// <summary>An ibv_context from ibv_open_device (ibv_close_device).</summary>
    OwnedDeviceContext,
    /// <summary>An ibv_context owned by librdmacm (id->verbs): never closed here.</summary>
    BorrowedDeviceContext,
    ProtectionDomain,
    MemoryRegion,
    CompletionChannel,
    CompletionQueue,
    SharedReceiveQueue,
    /// <summary>A QP from ibv_create_qp (ibv_destroy_qp).</summary>
    QueuePair,
    /// <summary>A QP created with rdma_create_qp; the handle value is the rdma_cm_id (rdma_destroy_qp).</summary>
    CmQueuePair,
    CmEventChannel,
    CmId,
}
