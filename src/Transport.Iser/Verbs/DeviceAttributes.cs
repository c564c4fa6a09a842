namespace Iser.Transport.Iser.Verbs;

/// <summary>The limits of an RDMA device (from ibv_query_device).</summary>
public sealed record DeviceAttributes(
    string FirmwareVersion,
    ulong NodeGuid,
    ulong MaxMemoryRegionSize,
    uint VendorId,
    uint VendorPartId,
    int MaxQueuePairs,
    int MaxQueuePairWorkRequests,
    int MaxScatterGatherElements,
    int MaxCompletionQueues,
    int MaxCompletionQueueEntries,
    int MaxMemoryRegions,
    int MaxProtectionDomains,
    int MaxQueuePairReadAtomic,
    int MaxQueuePairInitiatorReadAtomic,
    int PhysicalPortCount,
    int MaxSharedReceiveQueues = 0,
    int MaxSharedReceiveQueueWorkRequests = 0);
