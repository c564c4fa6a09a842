using Iser.Core.Datamover;
using Iser.Transport.Iser.Verbs;
using Microsoft.Extensions.Logging;

namespace Iser.Transport.Iser.Datamover;

/// <summary>
/// One shared CQ and the thread that polls it, for many connections (told apart by qp_num). Each connection
/// reserves the completions it may have outstanding (its send queue's work requests); the CQ also keeps room for every
/// buffer the shared receive queue may hold, since any of them may complete here. A batch is cut into runs of one
/// connection's completions, each handed to that connection as its own CQ thread would (its send batch spans the run).
/// Removing a connection waits for a batch in progress, so nothing of a freed connection is touched afterwards; a late
/// completion for a qp_num no longer known only gives its shared receive buffer back.
/// <para>
/// Initiator connections (<c>reportsIdle</c>) hold their callers' completions until their CQ runs dry (issue 13's
/// default mode), so the worker tells each connection a drain touched that it is idle, after every drain: when the CQ
/// is empty and also when the drain's budget ran out, or one busy session would keep the others' results waiting. When
/// one of them has work for a free thread, the poller passes the polling to its partner thread (<see cref="TurnRelay"/>)
/// and this thread runs that connection's work, as a connection's own CQ thread does; the others' go to the thread
/// pool. Only one thread at a time runs such work: while one does, a connection with work gets the pool, so the partner
/// never waits behind a caller's continuation for its turn.
/// </para>
/// </summary>
internal sealed class CompletionWorker : IDisposable, ICompletionIdleHandler
{
    // The connections one polling thread's drain touched since it last reported idle (each thread of a worker has its
    // own: the one running idle work holds its list while the partner fills another). A thread serves one worker only.
    [ThreadStatic] private static List<IserConnection>? t_touched;
    [ThreadStatic] private static long t_drain;
    private static long s_drains;

    private readonly CompletionChannel _channel;
    private readonly CompletionQueue _cq;
    private readonly CompletionQueuePoller _poller;
    private readonly SharedReceives _receives;
    private readonly ILogger _logger;
    private readonly Lock _batchGate = new();
    private readonly Lock _gate = new();
    private Dictionary<uint, IserConnection> _connections = new(); // replaced on change: the poller reads it without a lock
    private int _free;
    private int _busyPollers;
    private int _runningIdleWork; // 1 while a thread the poller let go runs a connection's idle work
    private readonly bool _reportsIdle;

    /// <param name="reportsIdle">Tell the connections each drain touched that it is done (initiators, see above).</param>
    public CompletionWorker(RdmaDevice device, int entries, SharedReceives receives, ILogger logger, string name, bool reportsIdle = false)
    {
        _receives = receives;
        _logger = logger;
        _reportsIdle = reportsIdle;
        _channel = device.CreateCompletionChannel();
        try
        {
            _cq = device.CreateCompletionQueue(entries, _channel);
            _free = _cq.Capacity - receives.Limit;
            if (_free <= 0)
                throw new VerbsException("ibv_create_cq", $"a shared CQ of {_cq.Capacity} entries cannot hold the {receives.Limit} buffers of the shared receive queue.");
            _poller = new CompletionQueuePoller(_cq, OnCompletions, OnPollerError, batchSize: 32, batchesPerWakeup: 4, threadName: name,
                idle: reportsIdle ? this : null);
        }
        catch
        {
            _cq?.Dispose();
            _channel.Dispose();
            throw;
        }
    }

    public CompletionQueue Queue => _cq;

    /// <summary>
    /// A connection asks for (or, with false, gives up) busy polling: the worker spins on its CQ while any of its
    /// connections asks, which every connection on it then enjoys (and one core pays for).
    /// </summary>
    public void RequestBusyPoll(bool on) => _poller.BusyPoll = Interlocked.Add(ref _busyPollers, on ? 1 : -1) > 0;

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
                if (connections.TryGetValue(qp, out var connection))
                {
                    if (_reportsIdle) Touched(connection);
                    connection.OnCompletions(run);
                }
                else Orphaned(run);
                start = end;
            }
        }
    }

    private static void Touched(IserConnection connection)
    {
        var touched = t_touched ??= new List<IserConnection>(16);
        if (touched.Count == 0) t_drain = Interlocked.Increment(ref s_drains);
        // Once per drain: a drain number is never reused, by this thread or the partner.
        if (connection.IdleDrain == t_drain) return;
        connection.IdleDrain = t_drain;
        touched.Add(connection);
    }

    bool ICompletionIdleHandler.HasIdleWork
    {
        get
        {
            if (Volatile.Read(ref _runningIdleWork) != 0 || t_touched is not { } touched) return false;
            foreach (var connection in touched)
                if (connection.HasIdleWork) return true;
            return false;
        }
    }

    /// <summary>
    /// A drain ended: each connection it touched hears it. With a free thread, the first connection with work runs it
    /// here and the others' goes to the pool first (they must not wait behind a caller's continuation).
    /// </summary>
    void ICompletionIdleHandler.OnIdle(bool threadFree)
    {
        if (t_touched is not { Count: > 0 } touched) return;
        IserConnection? runHere = null;
        if (threadFree && Interlocked.CompareExchange(ref _runningIdleWork, 1, 0) == 0)
        {
            foreach (var connection in touched)
                if (connection.HasIdleWork)
                {
                    runHere = connection;
                    break;
                }
            if (runHere is null) Volatile.Write(ref _runningIdleWork, 0);
        }
        foreach (var connection in touched)
            if (!ReferenceEquals(connection, runHere)) connection.OnIdle(threadFree: false);
        touched.Clear();
        if (runHere is null) return;
        try
        {
            runHere.OnIdle(threadFree: true);
        }
        finally
        {
            Volatile.Write(ref _runningIdleWork, 0);
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
