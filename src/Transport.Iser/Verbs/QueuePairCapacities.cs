namespace Iser.Transport.Iser.Verbs;

/// <summary>struct ibv_qp_cap: queue depths and per-WR limits asked of (and granted by) the provider.</summary>
public sealed record QueuePairCapacities(
    int MaxSendWorkRequests = 128,
    int MaxReceiveWorkRequests = 128,
    int MaxSendSge = 4,
    int MaxReceiveSge = 1,
    int MaxInlineData = 0);
