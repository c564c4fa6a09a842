using Iser.Core.Threading;

namespace Iser.Transport.Iser.Verbs;

/// <summary>Receives a batch of work completions. The span is only valid during the call.</summary>
public delegate void CompletionBatchHandler(ReadOnlySpan<IbvWc> completions);

/// <summary>What a poller tells its owner after each drain of the CQ, and the work the owner held back until then.</summary>
public interface ICompletionIdleHandler
{
    /// <summary>True when <see cref="OnIdle"/> with a free thread would run work on it.</summary>
    bool HasIdleWork { get; }

    /// <summary>
    /// A drain ended (the CQ empty, or the poller's budget per wake-up used) and everything taken from it was handled. <paramref name="threadFree"/>: another thread polls
    /// now (the poller passed its turn), so the owner may run its held-back work here; false on the polling thread.
    /// </summary>
    void OnIdle(bool threadFree);
}

/// <summary>
/// Drains one CQ on a dedicated thread that sleeps on the CQ's completion channel:
/// poll until empty (at most <c>batchesPerWakeup</c> batches before yielding), re-arm with
/// ibv_req_notify_cq, poll once more to catch completions that slipped in before the arm, then
/// wait. The wait is poll(2) on the channel fd with a timeout, so <see cref="Dispose"/> stops the
/// thread within that timeout. No allocation per completion: the batch buffer is allocated once.
/// With an <see cref="ICompletionIdleHandler"/>, the owner hears after each drain (the CQ empty, or the budget of a wake-up used); when it has work held back
/// for then (the initiator's thread-pool completions), this thread passes the polling to a partner thread
/// (<see cref="TurnRelay"/>) and runs that work itself: no hand-off between a completion and its continuation.
/// </summary>
public sealed class CompletionQueuePoller : IDisposable
{
    private readonly CompletionQueue _queue;
    private readonly CompletionChannel _channel;
    private readonly CompletionBatchHandler _handler;
    private readonly Action<Exception>? _onError;
    private readonly IbvWc[] _batch;
    private readonly int _batchesPerWakeup;
    private readonly int _waitTimeoutMs;
    private readonly Thread _thread;
    private readonly ICompletionIdleHandler? _idle;
    private readonly TurnRelay? _turns;
    private volatile bool _stopping;
    private volatile bool _busyPoll;
    private long _completions;
    private long _wakeups;
    private long _arms;

    /// <param name="queue">The CQ; it must have been created with <paramref name="queue"/>.Channel set.</param>
    /// <param name="handler">Called on the poller thread with each batch.</param>
    /// <param name="onError">Called with failures of the handler or of the CQ; the thread stops after a CQ failure.</param>
    /// <param name="batchSize">Completions taken per ibv_poll_cq call.</param>
    /// <param name="batchesPerWakeup">Batches handled before the thread yields to others (bounds one wakeup's work).</param>
    /// <param name="waitTimeoutMs">How long one wait on the channel lasts before the stop flag is checked.</param>
    public CompletionQueuePoller(
        CompletionQueue queue,
        CompletionBatchHandler handler,
        Action<Exception>? onError = null,
        int batchSize = 32,
        int batchesPerWakeup = 8,
        int waitTimeoutMs = 50,
        string? threadName = null,
        ICompletionIdleHandler? idle = null)
    {
        ArgumentNullException.ThrowIfNull(queue);
        ArgumentNullException.ThrowIfNull(handler);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchesPerWakeup, 1);
        _queue = queue;
        _channel = queue.Channel ?? throw new ArgumentException("The completion queue has no completion channel to wait on.", nameof(queue));
        _handler = handler;
        _onError = onError;
        _batch = GC.AllocateArray<IbvWc>(batchSize, pinned: true);
        _batchesPerWakeup = batchesPerWakeup;
        _waitTimeoutMs = waitTimeoutMs;
        _idle = idle;
        // Idle work runs on the thread that polled once a partner polls in its place (see TurnRelay), not on the pool.
        if (idle is not null) _turns = new TurnRelay(Run, $"{threadName ?? "rdma-cq-poller"}+");
        _thread = new Thread(Run) { IsBackground = true, Name = threadName ?? "rdma-cq-poller" };
        _thread.Start();
    }

    /// <summary>
    /// Spin on the CQ instead of sleeping on its channel: no arm, no event, no wake-up, so a completion is handled the
    /// moment it lands; the thread keeps a core busy (it yields to runnable threads, never sleeps). May change at any time.
    /// </summary>
    public bool BusyPoll
    {
        get => _busyPoll;
        set => _busyPoll = value;
    }

    /// <summary>Total completions handed to the handler.</summary>
    public long CompletionCount => Interlocked.Read(ref _completions);

    /// <summary>How many channel events woke the thread.</summary>
    public long WakeupCount => Interlocked.Read(ref _wakeups);

    /// <summary>How many times the CQ was armed (ibv_req_notify_cq) before waiting.</summary>
    public long ArmCount => Interlocked.Read(ref _arms);

    /// <summary>The exception that stopped the thread, if any.</summary>
    public Exception? Fault { get; private set; }

    // Completions handled since the owner last heard the CQ was empty (only the thread holding the turn touches it).
    private bool _handledSinceIdle;

    private void Run()
    {
        try
        {
            while (!_stopping)
            {
                bool more = Drain();

                // Idle after every drain, also one cut short by its budget: the owner's held-back work must not wait
                // for a CQ that other connections' traffic (a shared CQ) keeps from ever running dry.
                if (_handledSinceIdle && _idle is { } idle)
                {
                    _handledSinceIdle = false;
                    if (!_busyPoll && idle.HasIdleWork && _turns!.TryPass(partnerIsReturning: true))
                    {
                        idle.OnIdle(threadFree: true);
                        if (!_turns.AwaitTurn()) return; // stopped meanwhile
                        continue;
                    }
                    idle.OnIdle(threadFree: false);
                }

                if (more)
                {
                    Thread.Yield(); // budget used up: more may be queued; give others a turn, then continue without waiting
                    continue;
                }

                if (_busyPoll)
                {
                    SpinPoll();
                    continue;
                }

                _queue.RequestNotification();
                Interlocked.Increment(ref _arms);

                // A completion that arrived after the last empty poll but before the arm raises no event. Any found
                // now goes round again, so the owner hears the drain before this thread sleeps.
                if (Drain() || (_handledSinceIdle && _idle is not null))
                {
                    continue;
                }

                IntPtr fired = _channel.WaitForEvent(_waitTimeoutMs);
                if (fired != IntPtr.Zero)
                {
                    Interlocked.Increment(ref _wakeups);
                }
            }
        }
        catch (Exception ex) when (!_stopping)
        {
            Fault = ex;
            _onError?.Invoke(ex);
        }
        catch (Exception) when (_stopping)
        {
            // The CQ or channel went away while stopping: nothing left to drain.
        }
    }

    /// <summary>Busy-poll mode: polls without arming, yielding now and then (never sleeping), until the mode or the thread ends.</summary>
    private void SpinPoll()
    {
        var spinner = new SpinWait();
        while (_busyPoll && !_stopping)
        {
            int n = _queue.Poll(_batch);
            if (n == 0)
            {
                if (_handledSinceIdle && _idle is { } idle)
                {
                    _handledSinceIdle = false;
                    idle.OnIdle(threadFree: false);
                }
                spinner.SpinOnce(sleep1Threshold: -1);
                continue;
            }
            Handle(n);
            spinner.Reset();
        }
    }

    /// <summary>Polls until the CQ is empty or the budget is used. True when the budget ran out.</summary>
    private bool Drain()
    {
        for (int round = 0; round < _batchesPerWakeup; round++)
        {
            int n = _queue.Poll(_batch);
            if (n == 0)
            {
                return false;
            }

            Handle(n);
            if (n < _batch.Length)
            {
                return false;
            }
        }

        return true;
    }

    private void Handle(int n)
    {
        Interlocked.Add(ref _completions, n);
        _handledSinceIdle = true;
        try
        {
            _handler(new ReadOnlySpan<IbvWc>(_batch, 0, n));
        }
        catch (Exception ex)
        {
            _onError?.Invoke(ex);
        }
    }

    /// <summary>Stops the thread (within the wait timeout) and waits for it. Does not dispose the CQ.</summary>
    public void Dispose()
    {
        _stopping = true;
        _turns?.End(); // a thread waiting for its turn leaves; the one polling sees _stopping within the wait timeout
        if (Thread.CurrentThread != _thread)
        {
            _thread.Join();
        }
        if (_turns?.Partner is { } partner && Thread.CurrentThread != partner && (partner.ThreadState & ThreadState.Unstarted) == 0)
        {
            partner.Join();
        }
    }
}
