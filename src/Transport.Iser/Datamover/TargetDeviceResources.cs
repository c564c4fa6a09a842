using Iser.Transport.Iser.Verbs;
using Microsoft.Extensions.Logging;

namespace Iser.Transport.Iser.Datamover;

/// <summary>
/// What a listener's connections on one device share: the PD and RDMA data buffers (<see cref="SharedDataBuffers"/>),
/// and, with <see cref="IserOptions.ShareConnectionResources"/>, the SRQ, control send buffers and CQ threads
/// (<see cref="SharedConnectionQueues"/>). Users: the listener and each connection; the last one out frees it all,
/// the queues before the PD.
/// </summary>
internal sealed class TargetDeviceResources : ISharedDeviceResources
{
    private readonly UserCount _users = new(); // the listener's, then each connection's

    public TargetDeviceResources(RdmaDevice connectionDevice, IserOptions options, ILogger logger, string name)
    {
        DataBuffers = new SharedDataBuffers(connectionDevice, options);
        if (!options.ShareConnectionResources) return;
        try
        {
            Queues = new SharedConnectionQueues(DataBuffers.ProtectionDomain, options, logger, name, initiators: false);
        }
        catch
        {
            DataBuffers.RemoveUser();
            throw;
        }
    }

    public SharedDataBuffers DataBuffers { get; }

    /// <summary>The shared SRQ, send buffers and CQs; null when the connections are not sharing.</summary>
    public SharedConnectionQueues? Queues { get; }

    SharedConnectionQueues ISharedDeviceResources.Queues => Queues ?? throw new InvalidOperationException("This listener's connections do not share their queues.");

    /// <summary>The shared receive queue's buffers; null when the connections are not sharing.</summary>
    public SharedReceives? Receives => Queues?.Receives;

    /// <summary>
    /// The queues a new connection is built on (<see cref="SharedConnectionQueues.QueuesFor"/>), the connection counted
    /// as a user. On failure before the connection holds them, <see cref="SharedDeviceResourcesExtensions.Abandon"/> gives both back.
    /// </summary>
    public SharedQueues QueuesFor(int sendEntries, out CompletionWorker worker)
    {
        if (!_users.TryAdd()) throw new ObjectDisposedException(nameof(TargetDeviceResources), "The listener's shared iSER resources are already freed.");
        try
        {
            return Queues!.QueuesFor(sendEntries, out worker);
        }
        catch
        {
            RemoveUser();
            throw;
        }
    }

    /// <summary>A user is done (its connection freed, or the listener closed); the last one frees everything.</summary>
    public void RemoveUser()
    {
        if (!_users.Remove()) return;
        Queues?.Dispose();
        DataBuffers.RemoveUser();
    }
}
