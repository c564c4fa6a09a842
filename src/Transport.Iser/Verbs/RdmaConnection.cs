using System.Net;

namespace Iser.Transport.Iser.Verbs;

/// <summary>
/// One connected RC queue pair with everything it needs: its own rdma_cm event channel and id,
/// the device context librdmacm chose, a PD (own or supplied), a completion channel, one CQ
/// shared by the send and receive queues, and the QP. Built by <see cref="Connect"/> (active
/// side) or <see cref="RdmaConnectRequest.Accept"/> (passive side).
/// </summary>
public sealed class RdmaConnection : IDisposable
{
    private readonly bool _ownsProtectionDomain;
    private int _disconnected;
    private int _disposed;

    private PendingAccept? _pendingAccept;

    /// <summary>What rdma_accept still needs when the passive side was built by <see cref="RdmaConnectRequest.Prepare"/>.</summary>
    private sealed record PendingAccept(RdmaCmEvent Request, RdmaConnectionOptions Options);

    private RdmaConnection(
        RdmaCmEventChannel eventChannel, RdmaCmId cmId, RdmaDevice device, ProtectionDomain pd, bool ownsPd,
        CompletionChannel? completionChannel, CompletionQueue cq, QueuePair qp, RdmaCmEvent established)
    {
        EventChannel = eventChannel;
        CmId = cmId;
        Device = device;
        ProtectionDomain = pd;
        _ownsProtectionDomain = ownsPd;
        CompletionChannel = completionChannel;
        CompletionQueue = cq;
        QueuePair = qp;
        PeerPrivateData = established.PrivateData;
        ResponderResources = established.ResponderResources;
        InitiatorDepth = established.InitiatorDepth;
    }

    public RdmaCmEventChannel EventChannel { get; }

    public RdmaCmId CmId { get; }

    public RdmaDevice Device { get; }

    public ProtectionDomain ProtectionDomain { get; }

    /// <summary>The connection's own completion channel; null when its CQ is shared (<see cref="SharedQueues"/>).</summary>
    public CompletionChannel? CompletionChannel { get; }

    /// <summary>Receives both send and receive completions; owned by the connection unless it is shared.</summary>
    public CompletionQueue CompletionQueue { get; }

    /// <summary>The CQ (and SRQ) are shared with other connections and outlive this one.</summary>
    public bool SharesQueues => CompletionChannel is null;

    public QueuePair QueuePair { get; }

    /// <summary>
    /// Private data from the peer: on the active side what the acceptor passed to rdma_accept
    /// (via ESTABLISHED), on the passive side what the connector passed to rdma_connect.
    /// </summary>
    public byte[] PeerPrivateData { get; }

    /// <summary>RDMA READs the peer may have outstanding against this side, as the CM settled it (ESTABLISHED).</summary>
    public byte ResponderResources { get; private set; }

    /// <summary>RDMA READs this side may have outstanding against the peer, as the CM settled it (ESTABLISHED).</summary>
    public byte InitiatorDepth { get; private set; }

    /// <summary>
    /// Active connect: resolve address and route, create PD/CQ/QP on the device librdmacm chose,
    /// rdma_connect with <paramref name="privateData"/>, wait for ESTABLISHED. Blocking (control path).
    /// </summary>
    /// <param name="protectionDomainFactory">
    /// Supplies a shared PD for the device (it must belong to that very device context, e.g. a PD
    /// cached per device by the caller); null allocates one owned by the connection. It is called
    /// before rdma_connect reads <paramref name="privateData"/>, so it may register memory and write
    /// that memory's keys into the private data's buffer.
    /// </param>
    /// <param name="sharedQueues">Supplies the PD, CQ and SRQ the QP is built on, shared with other connections on that
    /// device (<see cref="SharedQueues"/>); null gives the connection its own.</param>
    public static RdmaConnection Connect(
        IPEndPoint remote,
        ReadOnlySpan<byte> privateData,
        RdmaConnectionOptions? options = null,
        IPEndPoint? source = null,
        Func<RdmaDevice, ProtectionDomain>? protectionDomainFactory = null,
        Func<RdmaDevice, SharedQueues>? sharedQueues = null)
    {
        RdmaRuntime.EnsureSupported();
        options ??= new RdmaConnectionOptions();
        List<IDisposable> created = [];
        try
        {
            RdmaCmEventChannel channel = Track(created, new RdmaCmEventChannel());
            RdmaCmId id = Track(created, new RdmaCmId(channel));
            id.ResolveAddress(source, remote, options.TimeoutMs);
            id.ResolveRoute(options.TimeoutMs);
            Resources r = sharedQueues is null
                ? CreateResources(id, options, protectionDomainFactory, created)
                : CreateOnSharedQueues(id, options, sharedQueues, created);
            if (options.AckTimeout is byte connectTimeout)
            {
                id.SetAckTimeout(connectTimeout);
            }

            id.Connect(privateData, options.ResponderResources, options.InitiatorDepth, options.RetryCount, options.RnrRetryCount);
            RdmaCmEvent established = id.WaitForEvent(RdmaCmEventType.Established, options.TimeoutMs, $"connecting to {remote}");
            return new RdmaConnection(channel, id, r.Device, r.Pd, r.OwnsPd, r.CompletionChannel, r.Cq, r.Qp, established);
        }
        catch
        {
            DisposeInReverse(created);
            throw;
        }
    }

    /// <summary>
    /// Passive side, first half: PD/CQ/QP on the migrated request id, not yet accepted. The caller posts its
    /// receive buffers, then calls <see cref="CompleteAccept"/>: the connector may SEND the moment it sees
    /// ESTABLISHED, and a SEND that finds no receive posted is answered with RNR NAKs until the connector's
    /// rnr_retry runs out (libiscsi asks for 6, a few milliseconds on rxe), which kills its connection.
    /// </summary>
    internal static RdmaConnection Prepare(
        RdmaCmEventChannel channel, RdmaCmId id, RdmaCmEvent request, RdmaConnectionOptions options,
        Func<RdmaDevice, ProtectionDomain>? protectionDomainFactory, Func<RdmaDevice, SharedQueues>? sharedQueues = null)
    {
        List<IDisposable> created = [];
        try
        {
            Resources r = sharedQueues is null
                ? CreateResources(id, options, protectionDomainFactory, created)
                : CreateOnSharedQueues(id, options, sharedQueues, created);
            return new RdmaConnection(channel, id, r.Device, r.Pd, r.OwnsPd, r.CompletionChannel, r.Cq, r.Qp, request)
            {
                _pendingAccept = new PendingAccept(request, options),
            };
        }
        catch
        {
            DisposeInReverse(created);
            throw;
        }
    }

    /// <summary>
    /// Passive side, second half: rdma_accept with <paramref name="privateData"/>, then wait for ESTABLISHED.
    /// On failure the connection is left for its owner to dispose (it may hold registrations on the PD); disposing
    /// it then rejects the request.
    /// </summary>
    public void CompleteAccept(ReadOnlySpan<byte> privateData)
    {
        PendingAccept pending = Volatile.Read(ref _pendingAccept)
            ?? throw new InvalidOperationException("This connection is not waiting to be accepted.");
        var options = pending.Options;
        if (options.AckTimeout is byte acceptTimeout)
        {
            CmId.SetAckTimeout(acceptTimeout);
        }

        // Never promise more outstanding READs than the peer asked to issue, nor issue more than it accepts. The CM
        // reports the request's values from this side's view (the kernel swaps the REQ's fields): its
        // responder_resources is the connector's initiator_depth and its initiator_depth the connector's
        // responder_resources, which is what rdma_accept's values must not exceed (rdma_accept(3)). libiscsi asks
        // for responder_resources 4 and initiator_depth 0: swapped, this side could issue no RDMA READ at all.
        byte responder = Math.Min(options.ResponderResources, pending.Request.ResponderResources);
        byte initiator = Math.Min(options.InitiatorDepth, pending.Request.InitiatorDepth);
        CmId.Accept(privateData, responder, initiator, options.RnrRetryCount);
        ResponderResources = responder;
        InitiatorDepth = initiator;
        CmId.WaitForEvent(RdmaCmEventType.Established, options.TimeoutMs, "accepting the RDMA connection");
        Volatile.Write(ref _pendingAccept, null);
    }

    /// <summary>
    /// rdma_disconnect (once): the local QP enters the error state, so outstanding WRs complete
    /// with IBV_WC_WR_FLUSH_ERR, and the peer gets RDMA_CM_EVENT_DISCONNECTED.
    /// </summary>
    public void Disconnect()
    {
        if (Interlocked.Exchange(ref _disconnected, 1) == 0)
        {
            CmId.Disconnect();
        }
    }

    /// <summary>The next rdma_cm event for this connection (e.g. DISCONNECTED), or null on timeout.</summary>
    public RdmaCmEvent? WaitForEvent(int timeoutMs) => EventChannel.GetEvent(timeoutMs);

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        if (Interlocked.Exchange(ref _pendingAccept, null) is not null)
        {
            // Prepared, never (successfully) accepted: tell the connector now rather than let its connect time out.
            try
            {
                CmId.Reject([]);
            }
            catch (VerbsException)
            {
            }
        }
        else if (Interlocked.Exchange(ref _disconnected, 1) == 0)
        {
            try
            {
                CmId.Disconnect();
            }
            catch (VerbsException)
            {
                // Already disconnected by the peer or never fully connected: teardown goes on.
            }
        }

        // Children first; the SafeHandles' parent references would enforce this order anyway.
        QueuePair.Dispose();
        if (!SharesQueues)
        {
            CompletionQueue.Dispose();
            CompletionChannel!.Dispose();
        }
        if (_ownsProtectionDomain)
        {
            ProtectionDomain.Dispose();
        }

        Device.Dispose();
        CmId.Dispose();
        EventChannel.Dispose();
    }

    private readonly record struct Resources(RdmaDevice Device, ProtectionDomain Pd, bool OwnsPd, CompletionChannel? CompletionChannel, CompletionQueue Cq, QueuePair Qp);

    /// <summary>A QP on queues its owner shares among connections: the PD, the CQ and (optionally) the SRQ of the device rdma_cm chose.</summary>
    private static Resources CreateOnSharedQueues(RdmaCmId id, RdmaConnectionOptions options, Func<RdmaDevice, SharedQueues> sharedQueues, List<IDisposable> created)
    {
        RdmaDevice device = Track(created, id.OpenDevice());
        SharedQueues shared = sharedQueues(device);
        if (shared.ProtectionDomain.Device.Handle.DangerousGetHandle() != device.Handle.DangerousGetHandle())
        {
            throw new ArgumentException(
                $"The shared queues belong to another device context than the one rdma_cm chose ({device.Name}).", nameof(sharedQueues));
        }

        QueuePair qp = Track(created, id.CreateQueuePair(shared.ProtectionDomain, shared.CompletionQueue, shared.CompletionQueue, options.Capacities, shared.ReceiveQueue));
        return new Resources(device, shared.ProtectionDomain, false, null, shared.CompletionQueue, qp);
    }

    private static Resources CreateResources(RdmaCmId id, RdmaConnectionOptions options, Func<RdmaDevice, ProtectionDomain>? pdFactory, List<IDisposable> created)
    {
        RdmaDevice device = Track(created, id.OpenDevice());
        ProtectionDomain pd;
        bool ownsPd = pdFactory is null;
        if (pdFactory is null)
        {
            pd = Track(created, device.AllocateProtectionDomain());
        }
        else
        {
            pd = pdFactory(device);
            if (pd.Device.Handle.DangerousGetHandle() != device.Handle.DangerousGetHandle())
            {
                throw new ArgumentException(
                    $"The supplied protection domain belongs to another device context than the one rdma_cm chose ({device.Name}).",
                    nameof(pdFactory));
            }
        }

        CompletionChannel completionChannel = Track(created, device.CreateCompletionChannel());
        CompletionQueue cq = Track(created, device.CreateCompletionQueue(options.EffectiveCqEntries, completionChannel));
        QueuePair qp = Track(created, id.CreateQueuePair(pd, cq, cq, options.Capacities));
        return new Resources(device, pd, ownsPd, completionChannel, cq, qp);
    }

    private static T Track<T>(List<IDisposable> created, T item)
        where T : IDisposable
    {
        created.Add(item);
        return item;
    }

    private static void DisposeInReverse(List<IDisposable> created)
    {
        for (int i = created.Count - 1; i >= 0; i--)
        {
            created[i].Dispose();
        }
    }
}
