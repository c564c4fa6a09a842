using Iser.Transport.Iser.Verbs;
using Microsoft.Extensions.Logging;

namespace Iser.Transport.Iser.Datamover;

/// <summary>
/// The steps of one iSER connection's teardown, in their order, for its <see cref="ConnectionLifetime"/>:
/// stop posting and disconnect (so everything posted flushes), then, after the last completion, stop the threads and
/// free the QP, CQ and registered memory (a shared CQ and SRQ stay with their owner).
/// </summary>
internal sealed class ConnectionTeardown : IConnectionLifetimeOwner
{
    /// <summary>What the teardown stops and frees.</summary>
    internal readonly record struct Parts(
        RdmaConnection Rdma,
        ReceiveRing Receives,
        SendQueue Sends,
        ReceivedPduDelivery Received,
        IDisposable Completions,
        ConnectionEventWatcher Events,
        ControlBuffers Buffers,
        TargetDataTransfers? Data,
        WorkRequestTable Requests,
        SharedCompletions? Shared);

    private readonly IserConnection _connection;
    private readonly Parts _parts;
    private readonly ILogger _logger;

    public ConnectionTeardown(IserConnection connection, Parts parts, ILogger logger)
    {
        _connection = connection;
        _parts = parts;
        _logger = logger;
    }

    public string RemoteEndPoint => _connection.RemoteEndPoint;

    public void OnFailed(Exception error) => _parts.Received.Complete();

    public void Disconnect(bool postStaged)
    {
        // Nothing is posted after this: a receive reposted after the flush below might never complete.
        _parts.Receives.Close();
        _parts.Sends.Close(postStaged);
        try
        {
            // rdma_disconnect moves the QP to the error state: every posted WR completes (flushed) and drops its reference.
            _parts.Rdma.Disconnect();
        }
        catch (Exception e)
        {
            _logger.LogDebug("{Remote}: rdma_disconnect: {Error}", RemoteEndPoint, e.Message);
        }
        try
        {
            // Again, should the QP have gone to the error state on its own before the ring closed (rxe drains then).
            _parts.Rdma.QueuePair.MoveToErrorState();
        }
        catch (Exception e)
        {
            _logger.LogDebug("{Remote}: moving the QP to the error state: {Error}", RemoteEndPoint, e.Message);
        }
        _parts.Received.Complete();
    }

    public void FreeResources(string reason)
    {
        _parts.Events.Stop();
        _parts.Completions.Dispose(); // the CQ thread stops, or the shared one forgets the connection
        _parts.Received.Discard();
        _parts.Rdma.Dispose();
        long bytes = _connection.RegisteredMemoryBytes;
        _parts.Buffers.Dispose();
        _parts.Data?.Dispose();
        _connection.OnResourcesFreed(); // the initiator's registrations, on a PD that may be shared
        _parts.Shared?.Release(); // after the QP and the registrations: the SRQ, CQ and PD it used may go now
        _connection.MemoryReport.Withdraw();
        IserConnectionCounters.ConnectionFreed();
        _logger.LogDebug("iSER connection {Remote} freed ({Kib} KiB registered memory released): {Reason}", RemoteEndPoint, bytes / 1024, reason);
    }

    public int UncompletedWorkRequests => _parts.Requests.InUse;
}
