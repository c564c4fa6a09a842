using Iser.Transport.Iser.Memory;
using Iser.Transport.Iser.Verbs;
using Microsoft.Extensions.Logging;

namespace Iser.Transport.Iser.Datamover;

/// <summary>
/// The queues and control buffers many connections on one device share, on one PD (as Linux isert and iser, and SPDK's
/// NVMe-oF RDMA transport, share theirs): the receive buffers on one SRQ (<see cref="SharedReceives"/>), one pool of
/// control send buffers, and CQs each polled by one thread (<see cref="CompletionWorker"/>: up to
/// <see cref="IserOptions.CompletionThreads"/>, a connection placed on the one with fewest connections). A target
/// listener's connections share one set; an initiator's connections one set per device and options in the process.
/// Its owner frees it after the last connection on it (CQs and SRQ before the PD).
/// </summary>
internal sealed class SharedConnectionQueues : IDisposable
{
    private const int SendBlocksPerSlab = 16;

    private readonly RdmaDevice _device;
    private readonly ProtectionDomain _pd;
    private readonly IserOptions _options;
    private readonly ILogger _logger;
    private readonly string _name;
    private readonly bool _initiators;
    private readonly string _threadName;
    private readonly List<CompletionWorker> _workers = [];
    private readonly Lock _gate = new();
    private readonly int _cqEntries;

    /// <param name="initiators">Initiator connections: the CQ threads tell each connection when a drain ends (their
    /// deferred completions wait for that), passing the polling to a partner thread to run that work; their buffers
    /// count in <see cref="IserConnectionCounters.InitiatorControlBufferBytes"/>, not the targets' figure.</param>
    public SharedConnectionQueues(ProtectionDomain pd, IserOptions options, ILogger logger, string name, bool initiators)
    {
        _pd = pd;
        _device = pd.Device;
        _options = options;
        _logger = logger;
        _name = name;
        _initiators = initiators;
        _threadName = initiators ? "iser-init-cq" : "iser-srq-cq";
        Action<long> registered = initiators ? IserConnectionCounters.InitiatorControlBuffersRegistered : IserConnectionCounters.SharedControlBuffersRegistered;
        var attributes = pd.Device.QueryDevice();
        _cqEntries = Math.Min(options.SharedCompletionQueueEntries, attributes.MaxCompletionQueueEntries);
        Receives = new SharedReceives(pd, options, logger, name, registered);
        try
        {
            int sendSlabs = Math.Max(1, options.SharedSendBufferLimit / SendBlocksPerSlab);
            SendBuffers = new RegisteredBufferPool(pd, options.ControlBufferSize, SendBlocksPerSlab, sendSlabs, initialSlabs: 0,
                access: MemoryAccess.LocalWrite, registeredChanged: registered);
        }
        catch
        {
            Receives.Dispose();
            throw;
        }
    }

    /// <summary>The receive buffers, on one SRQ.</summary>
    public SharedReceives Receives { get; }

    /// <summary>The control send buffers the connections rent per PDU (each keeps its own credits).</summary>
    public RegisteredBufferPool SendBuffers { get; }

    /// <summary>CQ poller threads now (each worker's; a partner thread of a worker that reports idle is not counted).</summary>
    public int CompletionThreads { get { lock (_gate) return _workers.Count; } }

    /// <summary>
    /// The queues a new connection is built on: the PD, the SRQ, and the CQ of the worker with fewest connections that
    /// has room for <paramref name="entries"/> completions (a new worker while fewer than the thread limit run, or
    /// when all are full). The reservation is the caller's to give back (<see cref="CompletionWorker.Remove"/> or
    /// <see cref="CompletionWorker.Unreserve"/>).
    /// </summary>
    public SharedQueues QueuesFor(int entries, out CompletionWorker worker)
    {
        lock (_gate)
        {
            CompletionWorker? best = null;
            foreach (var w in _workers)
                if ((best is null || w.Connections < best.Connections) && w.Free >= entries) best = w;
            if (best is null || (_workers.Count < _options.CompletionThreads && best.Connections > 0))
            {
                var created = new CompletionWorker(_device, _cqEntries, Receives, _logger, $"{_threadName} #{_workers.Count}", reportsIdle: _initiators);
                _workers.Add(created);
                if (_workers.Count > _options.CompletionThreads)
                    _logger.LogWarning("iSER {Name}: every shared CQ is full; CQ thread {Count} started beyond the {Limit} configured", _name, _workers.Count, _options.CompletionThreads);
                best = created;
            }
            if (!best.TryReserve(entries))
                throw new VerbsException("reserving shared CQ entries", $"a shared CQ of {best.Queue.Capacity} entries has no room for a connection's {entries} send work requests.");
            worker = best;
        }
        Receives.ConnectionAdded();
        return new SharedQueues(_pd, worker.Queue, Receives.Queue);
    }

    /// <summary>After the last connection on them is gone: the CQ threads stop, the CQs, SRQ and buffers are freed (not the PD).</summary>
    public void Dispose()
    {
        List<CompletionWorker> workers;
        lock (_gate)
        {
            workers = [.. _workers];
            _workers.Clear();
        }
        foreach (var worker in workers) worker.Dispose();
        // The pools take their bytes off their meter as they go.
        Receives.Dispose();
        SendBuffers.Dispose();
    }
}
