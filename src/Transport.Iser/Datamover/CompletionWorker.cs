using Iser.Core.Datamover;
using Iser.Transport.Iser.Verbs;
using Microsoft.Extensions.Logging;

namespace Iser.Transport.Iser.Datamover;

/// <summary>
/// One shared CQ and the thread that polls it, for many target connections (told apart by qp_num). Each connection
/// reserves the completions it may have outstanding (its send queue's work requests); the CQ also keeps room for every
/// buffer the shared receive queue may hold, since any of them may complete here. A batch is cut into runs of one
/// connection's completions, each handed to that connection as its own CQ thread would (its send batch spans the run).
/// Removing a connection waits for a batch in progress, so nothing of a freed connection is touched afterwards; a late
/// completion for a qp_num no longer known only gives its shared receive buffer back.
/// </summary>
internal sealed class CompletionWorker : IDisposable
{
    private readonly CompletionChannel _channel;
    private readonly CompletionQueue _cq;
    private readonly CompletionQueuePoller _poller;
    private readonly SharedReceives _receives;
    private readonly ILogger _logger;
    private readonly Lock _batchGate = new();
    private readonly Lock _gate = new();
    private Dictionary<uint, IserConnection> _connections = new(); // replaced on change: the poller reads it without a lock
    private int _free;

    public CompletionWorker(RdmaDevice device, int entries, SharedReceives receives, ILogger logger, string name)
    {
        _receives = receives;
        _logger = logger;
        _channel = device.CreateCompletionChannel();
        try
        {
            _cq = device.CreateCompletionQueue(entries, _channel);
            _free = _cq.Capacity - receives.Limit;
            if (_free <= 0)
                throw new VerbsException("ibv_create_cq", $"a shared CQ of {_cq.Capacity} entries cannot hold the {receives.Limit} buffers of the shared receive queue.");
            _poller = new CompletionQueuePoller(_cq, OnCompletions, OnPollerError, batchSize: 32, batchesPerWakeup: 4, threadName: name);
        }
        catch
        {
            _cq?.Dispose();
            _channel.Dispose();
            throw;
        }
    }

    public CompletionQueue Queue => _cq;

    public int Connections => Volatile.Read(ref _connections).Count;

    /// <summary>Completions still free to reserve.</summary>
    public int Free { get { lock (_gate) return _free; } }

    /// <summary>Reserves room for <paramref name="entries"/> outstanding completions; false when the CQ is full.</summary>
    public bool TryReserve(int entries)
    {
        lock (_gate)
        {
            if (_free < entries) return false;
            _free -= entries;
            return true;
        }
    }

    public void Unreserve(int entries)
    {
        lock (_gate) _free += entries;
    }

    /// <summary>The connection's completions go to it from now on (before its QP can complete anything).</summary>
    public void Add(uint qpNumber, IserConnection connection)
    {
        lock (_gate)
        {
            var next = new Dictionary<uint, IserConnection>(_connections) { [qpNumber] = connection };
            Volatile.Write(ref _connections, next);
        }
    }

    /// <summary>
    /// The connection is freed: its entry and reservation go, then this waits for a batch in progress (which may still
    /// be handing it completions) to end. Not called on the poller thread in a batch (freeing runs on the pool).
    /// </summary>
    public void Remove(uint qpNumber, int entries)
    {
        lock (_gate)
        {
            var next = new Dictionary<uint, IserConnection>(_connections);
            next.Remove(qpNumber);
            Volatile.Write(ref _connections, next);
            _free += entries;
        }
        lock (_batchGate) { }
    }

    private void OnCompletions(ReadOnlySpan<IbvWc> completions)
    {
        lock (_batchGate)
        {
            var connections = Volatile.Read(ref _connections);
            int start = 0;
            while (start < completions.Length)
            {
                uint qp = completions[start].QpNum;
                int end = start + 1;
                while (end < completions.Length && completions[end].QpNum == qp) end++;
                var run = completions[start..end];
                if (connections.TryGetValue(qp, out var connection)) connection.OnCompletions(run);
                else Orphaned(run);
                start = end;
            }
        }
    }

    /// <summary>Completions of a connection already freed: its shared receive buffers go back; nothing else is left to do.</summary>
    private void Orphaned(ReadOnlySpan<IbvWc> completions)
    {
        foreach (ref readonly var wc in completions)
        {
            if (SharedReceives.Owns(wc.WrId)) _receives.Repost(_receives.Take(wc.WrId));
            else _logger.LogDebug("A completion for freed queue pair {Qp} ({Status}) was dropped", wc.QpNum, wc.StatusText);
        }
    }

    /// <summary>The CQ failed (or a handler threw past its connection): every connection on it is failed with the reason.</summary>
    private void OnPollerError(Exception e)
    {
        _logger.LogError("Polling a shared iSER completion queue failed: {Error}", e.Message);
        var error = new DatamoverException($"Polling the shared completion queue failed: {e.Message}", e);
        foreach (var connection in Volatile.Read(ref _connections).Values) connection.Fail(error);
    }

    /// <summary>After the last connection on it is gone.</summary>
    public void Dispose()
    {
        _poller.Dispose();
        _cq.Dispose();
        _channel.Dispose();
    }
}
