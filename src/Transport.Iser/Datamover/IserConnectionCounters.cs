using System.Diagnostics.Metrics;

namespace Iser.Transport.Iser.Datamover;

/// <summary>
/// Process-wide iSER bookkeeping, for tests and metrics: connections whose verbs resources are still allocated,
/// work requests posted and not yet completed, and totals. A leak shows as a count that does not return to zero.
/// </summary>
public static class IserConnectionCounters
{
    private static long _liveConnections;
    private static long _outstandingWorkRequests;
    private static long _postedWorkRequests;
    private static long _completedWorkRequests;
    private static long _registeredBytes;
    private static long _sharedDataBufferBytes;
    private static long _sendQueuePosts;
    private static long _sendQueueCompletions;
    private static long _receiveCompletions;
    private static long _sharedReceivesPosted;
    private static long _sharedControlBufferBytes;
    private static long _initiatorControlBufferBytes;

    /// <summary>The same figures as instruments (meter <c>Iser.Transport.Iser</c>), made when the transport is first used.</summary>
    public const string MeterName = "Iser.Transport.Iser";
    private static readonly Meter s_meter = CreateMeter();

    private static Meter CreateMeter()
    {
        var meter = new Meter(MeterName);
        meter.CreateObservableUpDownCounter("iser.rdma.connections", () => LiveConnections, "{connection}",
            "iSER connections whose verbs resources (QP, CQ, registered memory) are allocated.");
        meter.CreateObservableCounter("iser.rdma.work_requests.posted", () => PostedWorkRequests, "{request}", "Work requests posted (sends, RDMA operations, receives).");
        meter.CreateObservableCounter("iser.rdma.work_requests.completed", () => CompletedWorkRequests, "{request}", "Work requests completed (flushes included).");
        meter.CreateObservableUpDownCounter("iser.rdma.work_requests.outstanding", () => OutstandingWorkRequests, "{request}", "Work requests posted and not yet completed.");
        meter.CreateObservableCounter("iser.rdma.doorbells", () => SendQueuePosts, "{post}", "ibv_post_send calls (each may carry a chain of requests).");
        meter.CreateObservableUpDownCounter("iser.rdma.registered_memory", () => RegisteredBytes, "By", "Bytes of memory registered by live connections.");
        meter.CreateObservableUpDownCounter("iser.rdma.shared_data_buffers", () => SharedDataBufferBytes, "By",
            "Bytes of target data buffers registered in the pools that listeners share among their connections.");
        meter.CreateObservableUpDownCounter("iser.rdma.shared_control_buffers", () => SharedControlBufferBytes, "By",
            "Bytes of control-PDU buffers (shared receive queues and send buffers) registered for the connections a listener accepts on one device.");
        meter.CreateObservableUpDownCounter("iser.rdma.initiator_control_buffers", () => InitiatorControlBufferBytes, "By",
            "Bytes of control-PDU buffers (shared receive queues and send buffers) registered for the initiator connections of the process.");
        meter.CreateObservableUpDownCounter("iser.rdma.shared_receives.posted", () => SharedReceivesPosted, "{request}",
            "Receive buffers posted to shared receive queues (targets' and initiators').");
        return meter;
    }

    /// <summary>Connections whose QP, CQ and registered memory have not been freed yet.</summary>
    public static long LiveConnections => Interlocked.Read(ref _liveConnections);
    /// <summary>Work requests posted and not yet completed (flushes included), over all connections.</summary>
    public static long OutstandingWorkRequests => Interlocked.Read(ref _outstandingWorkRequests);
    public static long PostedWorkRequests => Interlocked.Read(ref _postedWorkRequests);
    public static long CompletedWorkRequests => Interlocked.Read(ref _completedWorkRequests);
    /// <summary>ibv_post_send calls (doorbells; each may carry a chain of WRITEs and SENDs).</summary>
    public static long SendQueuePosts => Interlocked.Read(ref _sendQueuePosts);
    /// <summary>Send-queue completions taken from CQs (unsignaled requests reported by a later one are not counted).</summary>
    public static long SendQueueCompletions => Interlocked.Read(ref _sendQueueCompletions);
    /// <summary>Receive completions (iSER messages received, flushes included).</summary>
    public static long ReceiveCompletions => Interlocked.Read(ref _receiveCompletions);
    /// <summary>Bytes of buffers registered by live connections themselves (control rings and send buffers).</summary>
    public static long RegisteredBytes => Interlocked.Read(ref _registeredBytes);
    /// <summary>Bytes of target data buffers registered in shared pools (one per listener and device, grown by load).</summary>
    public static long SharedDataBufferBytes => Interlocked.Read(ref _sharedDataBufferBytes);
    /// <summary>Bytes of control buffers registered in the pools a listener's connections share (SRQ buffers and send buffers).</summary>
    public static long SharedControlBufferBytes => Interlocked.Read(ref _sharedControlBufferBytes);
    /// <summary>Bytes of control buffers registered in the pools the initiator connections of the process share (SRQ and send buffers).</summary>
    public static long InitiatorControlBufferBytes => Interlocked.Read(ref _initiatorControlBufferBytes);
    /// <summary>Receive buffers posted to shared receive queues (targets' and initiators', apart from <see cref="OutstandingWorkRequests"/>).</summary>
    public static long SharedReceivesPosted => Interlocked.Read(ref _sharedReceivesPosted);

    internal static void ConnectionCreated()
    {
        GC.KeepAlive(s_meter); // the instruments exist from the first connection on
        Interlocked.Increment(ref _liveConnections);
    }
    internal static void ConnectionFreed() => Interlocked.Decrement(ref _liveConnections);
    internal static void Posted(int count)
    {
        Interlocked.Add(ref _postedWorkRequests, count);
        Interlocked.Add(ref _outstandingWorkRequests, count);
    }
    internal static void Completed()
    {
        Interlocked.Increment(ref _completedWorkRequests);
        Interlocked.Decrement(ref _outstandingWorkRequests);
    }
    /// <summary>Work requests a forced teardown discarded with their QP: posted, never to complete.</summary>
    internal static void Abandoned(int count) => Interlocked.Add(ref _outstandingWorkRequests, -count);
    internal static void SendQueuePosted() => Interlocked.Increment(ref _sendQueuePosts);
    internal static void CompletionPolled(bool receive) => Interlocked.Increment(ref receive ? ref _receiveCompletions : ref _sendQueueCompletions);
    internal static void Registered(long bytes) => Interlocked.Add(ref _registeredBytes, bytes);
    internal static void SharedDataBuffersRegistered(long bytes) => Interlocked.Add(ref _sharedDataBufferBytes, bytes);
    internal static void SharedControlBuffersRegistered(long bytes) => Interlocked.Add(ref _sharedControlBufferBytes, bytes);
    internal static void InitiatorControlBuffersRegistered(long bytes) => Interlocked.Add(ref _initiatorControlBufferBytes, bytes);
    internal static void SharedReceivePosted(int count) => Interlocked.Add(ref _sharedReceivesPosted, count);
}
