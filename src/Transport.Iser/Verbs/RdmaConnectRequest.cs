namespace Iser.Transport.Iser.Verbs;

/// <summary>
/// A pending connect request: the new id librdmacm made for it (already moved to its own event
/// channel) and the connector's private data and READ depths. Accept it (which hands over the id
/// and channel to the RdmaConnection), or reject it; disposing an undecided request rejects it.
/// </summary>
public sealed class RdmaConnectRequest : IDisposable
{
    private readonly RdmaCmEventChannel _channel;
    private readonly RdmaCmId _id;
    private readonly RdmaCmEvent _event;
    private bool _decided;

    private RdmaConnectRequest(RdmaCmEventChannel channel, RdmaCmId id, RdmaCmEvent evt)
    {
        _channel = channel;
        _id = id;
        _event = evt;
    }

    /// <summary>What the connector passed to rdma_connect (padded by the CM on IB/RoCE).</summary>
    public byte[] PrivateData => _event.PrivateData;

    /// <summary>
    /// At most this many RDMA READs of the connector may be outstanding against this side: the connector's
    /// initiator_depth (the CM reports the request from the acceptor's view).
    /// </summary>
    public byte ResponderResources => _event.ResponderResources;

    /// <summary>At most this many RDMA READs this side may issue to the connector: the connector's responder_resources.</summary>
    public byte InitiatorDepth => _event.InitiatorDepth;

    internal static RdmaConnectRequest Adopt(RdmaCmEvent evt)
    {
        RdmaCmEventChannel channel = new();
        try
        {
            RdmaCmId id = RdmaCmId.AdoptAndMigrate(evt.IdPointer, channel);
            return new RdmaConnectRequest(channel, id, evt);
        }
        catch
        {
            channel.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Creates PD/CQ/QP on the request's device, rdma_accept with <paramref name="privateData"/>,
    /// waits for ESTABLISHED. If it fails, the request is rejected and released.
    /// <paramref name="protectionDomainFactory"/> (as for <see cref="RdmaConnection.Connect"/>) runs before
    /// rdma_accept reads <paramref name="privateData"/>.
    /// </summary>
    public RdmaConnection Accept(
        ReadOnlySpan<byte> privateData,
        RdmaConnectionOptions? options = null,
        Func<RdmaDevice, ProtectionDomain>? protectionDomainFactory = null)
    {
        RdmaConnection connection = Prepare(options, protectionDomainFactory);
        try
        {
            connection.CompleteAccept(privateData);
            return connection;
        }
        catch
        {
            connection.Dispose(); // rejects the request and releases the id
            throw;
        }
    }

    /// <summary>
    /// Creates PD/CQ/QP on the request's device without accepting yet: post receive buffers on the QP, then call
    /// <see cref="RdmaConnection.CompleteAccept"/> (the connector may send as soon as it is ESTABLISHED). From here on
    /// the connection owns the id; disposing it before the accept rejects the request. If building fails, the
    /// request is rejected and released.
    /// </summary>
    public RdmaConnection Prepare(RdmaConnectionOptions? options = null, Func<RdmaDevice, ProtectionDomain>? protectionDomainFactory = null) =>
        PrepareCore(options, protectionDomainFactory, null);

    /// <summary>As <see cref="Prepare(RdmaConnectionOptions?, Func{RdmaDevice, ProtectionDomain}?)"/>, on queues shared with other connections.</summary>
    public RdmaConnection Prepare(RdmaConnectionOptions options, Func<RdmaDevice, SharedQueues> sharedQueues) =>
        PrepareCore(options, null, sharedQueues);

    private RdmaConnection PrepareCore(RdmaConnectionOptions? options, Func<RdmaDevice, ProtectionDomain>? protectionDomainFactory,
        Func<RdmaDevice, SharedQueues>? sharedQueues)
    {
        ObjectDisposedException.ThrowIf(_decided, this);
        _decided = true;
        try
        {
            return RdmaConnection.Prepare(_channel, _id, _event, options ?? new RdmaConnectionOptions(), protectionDomainFactory, sharedQueues);
        }
        catch
        {
            TryReject([]);
            _id.Dispose();
            _channel.Dispose();
            throw;
        }
    }

    /// <summary>rdma_reject with <paramref name="privateData"/>, then releases the id.</summary>
    public void Reject(ReadOnlySpan<byte> privateData)
    {
        ObjectDisposedException.ThrowIf(_decided, this);
        _decided = true;
        try
        {
            _id.Reject(privateData);
        }
        finally
        {
            _id.Dispose();
            _channel.Dispose();
        }
    }

    public void Dispose()
    {
        if (!_decided)
        {
            _decided = true;
            TryReject([]);
            _id.Dispose();
            _channel.Dispose();
        }
    }

    private void TryReject(ReadOnlySpan<byte> privateData)
    {
        try
        {
            _id.Reject(privateData);
        }
        catch (VerbsException)
        {
            // Rejecting is best effort once the request has failed.
        }
    }
}
