using Iser.Transport.Iser.Memory;
using Iser.Transport.Iser.Verbs;
using Microsoft.Extensions.Logging;

namespace Iser.Transport.Iser.Datamover;

/// <summary>
/// What a listener's connections on one device share: the PD and RDMA data buffers (<see cref="SharedDataBuffers"/>),
/// and, with <see cref="IserOptions.ShareConnectionResources"/>, the receive buffers on one SRQ
/// (<see cref="SharedReceives"/>), the control send buffers, and CQs each polled by one thread
/// (<see cref="CompletionWorker"/>: up to <see cref="IserOptions.CompletionThreads"/>, a connection placed on the one
/// with fewest connections). Users: the listener and each connection; the last one out frees it all, CQs and SRQ
/// before the PD.
/// </summary>
internal sealed class TargetDeviceResources
{
    private const int SendBlocksPerSlab = 16;

    private readonly RdmaDevice _device;
    private readonly IserOptions _options;
    private readonly ILogger _logger;
    private readonly string _name;
    private readonly List<CompletionWorker> _workers = [];
    private readonly Lock _gate = new();
    private readonly int _cqEntries;
    private readonly UserCount _users = new(); // the listener's, then each connection's

    public TargetDeviceResources(RdmaDevice connectionDevice, IserOptions options, ILogger logger, string name)
    {
        _options = options;
        _logger = logger;
        _name = name;
        DataBuffers = new SharedDataBuffers(connectionDevice, options);
        // The context the data buffers hold for themselves: the first connection's (borrowed from its cm id) goes with it.
        _device = DataBuffers.ProtectionDomain.Device;
        if (!options.ShareConnectionResources) return;
        try
        {
            var pd = DataBuffers.ProtectionDomain;
            var attributes = pd.Device.QueryDevice();
            _cqEntries = Math.Min(options.SharedCompletionQueueEntries, attributes.MaxCompletionQueueEntries);
            Receives = new SharedReceives(pd, options, logger, name);
            int sendSlabs = Math.Max(1, options.SharedSendBufferLimit / SendBlocksPerSlab);
            SendBuffers = new RegisteredBufferPool(pd, options.ControlBufferSize, SendBlocksPerSlab, sendSlabs, initialSlabs: 0,
                access: MemoryAccess.LocalWrite, registeredChanged: IserConnectionCounters.SharedControlBuffersRegistered);
        }
        catch
        {
            Receives?.Dispose();
            DataBuffers.RemoveUser();
            throw;
        }
    }

    public SharedDataBuffers DataBuffers { get; }

    /// <summary>The shared receive queue's buffers; null when the connections are not sharing.</summary>
    public SharedReceives? Receives { get; }

    /// <summary>The control send buffers the connections rent per PDU; null when the connections are not sharing.</summary>
    public RegisteredBufferPool? SendBuffers { get; }

    public bool Shared => Receives is not null;

    /// <summary>CQ poller threads now.</summary>
    public int CompletionThreads { get { lock (_gate) return _workers.Count; } }

    /// <summary>
    /// The queues a new connection is built on: the PD, the SRQ, and the CQ of the worker with fewest connections that
    /// has room for <paramref name="sendEntries"/> completions (a new worker while fewer than the thread limit run, or
    /// when all are full). The reservation is the caller's to give back (<see cref="CompletionWorker.Remove"/> or
    /// <see cref="CompletionWorker.Unreserve"/>).
    /// </summary>
    public SharedQueues QueuesFor(int sendEntries, out CompletionWorker worker)
    {
        lock (_gate)
        {
            CompletionWorker? best = null;
            foreach (var w in _workers)
                if ((best is null || w.Connections < best.Connections) && w.Free >= sendEntries) best = w;
            if (best is null || (_workers.Count < _options.CompletionThreads && best.Connections > 0))
            {
                var created = new CompletionWorker(_device, _cqEntries, Receives!, _logger, $"iser-srq-cq #{_workers.Count}");
                _workers.Add(created);
                if (_workers.Count > _options.CompletionThreads)
                    _logger.LogWarning("iSER {Name}: every shared CQ is full; CQ thread {Count} started beyond the {Limit} configured", _name, _workers.Count, _options.CompletionThreads);
                best = created;
            }
            if (!best.TryReserve(sendEntries))
                throw new VerbsException("reserving shared CQ entries", $"a shared CQ of {best.Queue.Capacity} entries has no room for a connection's {sendEntries} send work requests.");
            worker = best;
        }
        Receives!.ConnectionAdded();
        return new SharedQueues(DataBuffers.ProtectionDomain, worker.Queue, Receives.Queue);
    }

    /// <summary>A connection starts using the resources; false when they are already gone.</summary>
    public bool AddUser() => _users.TryAdd();

    /// <summary>A user is done (its connection freed, or the listener closed); the last one frees everything.</summary>
    public void RemoveUser()
    {
        if (!_users.Remove()) return;
        List<CompletionWorker> workers;
        lock (_gate)
        {
            workers = [.. _workers];
            _workers.Clear();
        }
        foreach (var worker in workers) worker.Dispose();
        // The pools take their bytes off IserConnectionCounters.SharedControlBufferBytes as they go.
        Receives?.Dispose();
        SendBuffers?.Dispose();
        DataBuffers.RemoveUser();
    }
}
