namespace Iser.Transport.Iser.Verbs;

/// <summary>Queue sizes and rdma_cm connection parameters for one RDMA connection.</summary>
public sealed record RdmaConnectionOptions
{
    public QueuePairCapacities Capacities { get; init; } = new();

    /// <summary>CQ entries; 0 means send + receive depth (one CQ serves both queues).</summary>
    public int CompletionQueueEntries { get; init; }

    /// <summary>Outstanding RDMA READs the peer may issue against us (responder_resources).</summary>
    public byte ResponderResources { get; init; } = 4;

    /// <summary>Outstanding RDMA READs we may issue (initiator_depth).</summary>
    public byte InitiatorDepth { get; init; } = 4;

    /// <summary>Transport retries before IBV_WC_RETRY_EXC_ERR (0-7).</summary>
    public byte RetryCount { get; init; } = 7;

    /// <summary>
    /// Local ACK timeout exponent (4.096 µs × 2^n, 1-31) for the QP; null keeps rdma_cm's default
    /// (on RoCE about 1 s). Small values with a small <see cref="RetryCount"/> detect a dead peer fast.
    /// </summary>
    public byte? AckTimeout { get; init; }

    /// <summary>Receiver-not-ready retries (7 = retry forever).</summary>
    public byte RnrRetryCount { get; init; } = 7;

    /// <summary>Limit for each rdma_cm step (address, route, connect, accept).</summary>
    public int TimeoutMs { get; init; } = 5000;

    internal int EffectiveCqEntries => CompletionQueueEntries > 0
        ? CompletionQueueEntries
        : Capacities.MaxSendWorkRequests + Capacities.MaxReceiveWorkRequests;
}
