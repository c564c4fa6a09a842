using Iser.Transport.Iser.Verbs;

namespace Iser.Transport.Iser.Datamover;

/// <summary>
/// Sizing of one iSER connection. Control buffers are sized from the negotiated iSER keys, not a worst case:
/// a receive buffer holds the iSER header, BHS, a small AHS and <see cref="ControlDataSegmentLength"/> bytes
/// (the Initiator/TargetRecvDataSegmentLength this side offers; the login result can only be smaller).
/// </summary>
public sealed record IserOptions
{
    /// <summary>Largest data segment of a control PDU this side receives or sends (RFC 7145 default: 8192).</summary>
    public int ControlDataSegmentLength { get; init; } = 8192;

    /// <summary>Commands this side expects in flight: the target's CmdSN window or the initiator's queue depth.</summary>
    public int QueueDepth { get; init; } = 128;

    /// <summary>Receive buffers posted during login (one login PDU at a time needs few).</summary>
    public int LoginReceiveBuffers { get; init; } = 4;

    /// <summary>Target: bytes per registered bounce buffer for RDMA READ/WRITE; larger transfers use several.</summary>
    public int DataBufferSize { get; init; } = 128 * 1024;

    /// <summary>
    /// Target: bytes per small bounce buffer, used by a transfer that fits one (a 4 KiB read holds this much registered
    /// memory while in flight, not <see cref="DataBufferSize"/>); 0 uses the large ones for every transfer.
    /// </summary>
    public int SmallDataBufferSize { get; init; } = 16 * 1024;

    /// <summary>Target: bounce buffers one connection may hold at once (bounds its RDMA data in flight).</summary>
    public int DataBuffers { get; init; } = 64;

    /// <summary>
    /// Target: bytes of bounce buffers the listener's connections share (one pool per device, registered in 1 MiB
    /// slabs as the load needs them, up to this). A connection registers none of its own.
    /// </summary>
    public long DataBufferPoolBytes { get; init; } = 64L << 20;

    /// <summary>
    /// The connections a target listener accepts on one device, and the initiator connections of the process on one
    /// device (with equal options), share a receive queue (SRQ), control send buffers and completion queues polled by
    /// <see cref="CompletionThreads"/> threads, instead of each registering its own ring and starting its own CQ thread.
    /// False gives each connection its own.
    /// </summary>
    public bool ShareConnectionResources { get; init; } = true;

    /// <summary>Shared resources: most receive buffers the shared receive queue of one device holds at once.</summary>
    public int SharedReceiveLimit { get; init; } = 4096;

    /// <summary>Shared resources: most control send buffers the connections on one device hold at once (grown by load).</summary>
    public int SharedSendBufferLimit { get; init; } = 16384;

    /// <summary>Shared resources: CQ poller threads per device (more only when their CQs are full); an initiator's each have a partner thread that polls while they run callers' completions.</summary>
    public int CompletionThreads { get; init; } = Math.Max(1, Environment.ProcessorCount);

    /// <summary>Shared resources: entries of each shared CQ (capped by the device's max_cqe).</summary>
    public int SharedCompletionQueueEntries { get; init; } = 65536;

    /// <summary>Initiator: registrations the memory-region cache keeps for reuse.</summary>
    public int RegistrationCacheEntries { get; init; } = 256;

    /// <summary>Initiator: local address to connect from (picks the RDMA device, like a bound source address); null lets rdma_cm choose.</summary>
    public System.Net.IPAddress? SourceAddress { get; init; }

    /// <summary>rdma_cm step timeout (address, route, connect, accept), milliseconds.</summary>
    public int ConnectTimeoutMs { get; init; } = 5000;

    /// <summary>How long teardown waits for every posted work request to complete (flush) before freeing anyway.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Initiator: RDMA READs of its memory it accepts in flight (responder_resources of its connect request). The target
    /// fetches write data with them; 0 is what a misconfigured peer sends, kept so tests can play one.
    /// </summary>
    internal byte InitiatorResponderResources { get; init; } = 16;

    /// <summary>
    /// Initiator: whether a read advertises its buffer (Read STag/VA) in the iSER header. Always, but for tests that
    /// play a peer which leaves it out (the target then has nowhere to RDMA WRITE the data).
    /// </summary>
    internal bool InitiatorAdvertisesReadBuffers { get; init; } = true;

    /// <summary>Bytes reserved in each control buffer ahead of the data segment: iSER header, BHS, AHS.</summary>
    internal const int HeaderRoom = 512;

    internal int ControlBufferSize => HeaderRoom + Math.Max(8192, ControlDataSegmentLength);

    /// <summary>Receive WRs the ring holds in full feature phase: responses/commands, unexpected PDUs, slack for NOPs.</summary>
    internal int ReceiveRing(int maxOutstandingUnexpected) => QueueDepth + Math.Max(0, maxOutstandingUnexpected) + 8;

    internal int SendBuffers => QueueDepth + 8;

    internal RdmaConnectionOptions ConnectionOptions(bool target) => new()
    {
        Capacities = new QueuePairCapacities(
            MaxSendWorkRequests: SendBuffers + (target ? DataBuffers : 0) + 8,
            MaxReceiveWorkRequests: ReceiveRing(QueueDepth) + 8,
            MaxSendSge: 1,
            MaxReceiveSge: 1),
        TimeoutMs = ConnectTimeoutMs,
        // Only the target issues RDMA READs (to fetch write data), as Linux iser and libiscsi (responder_resources 4,
        // initiator_depth 0) have it. The asymmetry also keeps our own initiator-to-target tests honest: an acceptor
        // that mixed up the two values would settle on zero READs and never fetch a write.
        ResponderResources = target ? (byte)0 : InitiatorResponderResources,
        InitiatorDepth = target ? (byte)16 : (byte)0,
    };
}
