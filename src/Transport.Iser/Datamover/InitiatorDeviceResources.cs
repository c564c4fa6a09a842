using Iser.Transport.Iser.Verbs;
using Microsoft.Extensions.Logging;

namespace Iser.Transport.Iser.Datamover;

/// <summary>
/// What the initiator connections of the process share on one device (and one set of options): a PD and the
/// <see cref="SharedConnectionQueues"/> (one SRQ, control send buffers, CQ threads up to
/// <see cref="IserOptions.CompletionThreads"/>), as Linux iser shares a device's PD and CQs among its sessions. A client
/// holding many sessions starts no thread and registers no control ring per connection. Made by the first connection on
/// the device, freed with the last (the next one makes them again).
/// </summary>
internal sealed class InitiatorDeviceResources : ISharedDeviceResources
{
    private static readonly Lock s_gate = new();
    private static readonly Dictionary<(IntPtr Context, IserOptions Options), InitiatorDeviceResources> s_devices = new();

    private readonly (IntPtr Context, IserOptions Options) _key;
    private readonly RdmaDevice _device;
    private readonly ProtectionDomain _pd;
    private int _users; // connections given queues and not yet released; under s_gate

    private InitiatorDeviceResources((IntPtr, IserOptions) key, RdmaDevice connectionDevice, IserOptions options, ILogger logger)
    {
        _key = key;
        // The context itself, not the first connection's rdma_cm id, which must be free to go.
        _device = connectionDevice.ShareContext();
        try
        {
            _pd = _device.AllocateProtectionDomain();
            Queues = new SharedConnectionQueues(_pd, options, logger, $"initiators on {connectionDevice.Name}", initiators: true);
        }
        catch
        {
            _pd?.Dispose();
            _device.Dispose();
            throw;
        }
        logger.LogInformation("iSER initiator connections on {Device} share one receive queue ({Base} buffers of {Size} B and {Per} per connection, up to {Limit}), control send buffers from one pool and up to {Threads} CQ threads",
            connectionDevice.Name, SharedReceives.BasePosted, Queues.Receives.BlockSize, SharedReceives.PerConnection, Queues.Receives.Limit, options.CompletionThreads);
    }

    public SharedConnectionQueues Queues { get; }

    /// <summary>CQ threads the initiators' shared queues run now, over every device of the process.</summary>
    internal static int CompletionThreads
    {
        get
        {
            lock (s_gate) return s_devices.Values.Sum(d => d.Queues.CompletionThreads);
        }
    }

    /// <summary>
    /// The queues a new connection on <paramref name="device"/> (the context rdma_cm chose) is built on, its
    /// <paramref name="sendEntries"/> reserved on a CQ, the connection counted as a user of <paramref name="owner"/>. On
    /// failure before the connection holds them, <see cref="SharedDeviceResourcesExtensions.Abandon"/> gives both back.
    /// </summary>
    public static SharedQueues QueuesFor(RdmaDevice device, IserOptions options, ILogger logger, int sendEntries,
        out InitiatorDeviceResources owner, out CompletionWorker worker)
    {
        var key = (device.Handle.DangerousGetHandle(), options);
        lock (s_gate)
        {
            if (!s_devices.TryGetValue(key, out var resources))
            {
                resources = new InitiatorDeviceResources(key, device, options, logger);
                s_devices.Add(key, resources);
            }
            resources._users++;
            owner = resources;
        }
        try
        {
            return owner.Queues.QueuesFor(sendEntries, out worker);
        }
        catch
        {
            owner.RemoveUser();
            throw;
        }
    }

    public void RemoveUser()
    {
        lock (s_gate)
        {
            if (--_users > 0) return;
            s_devices.Remove(_key);
        }
        // Nobody can reach it any more: a connection made from now on builds new ones.
        Queues.Dispose();
        _pd.Dispose();
        _device.Dispose();
    }
}
