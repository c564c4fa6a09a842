using System.Diagnostics;
using Iser.Core.Datamover;

namespace Iser.Core.Iscsi.Initiator;

/// <summary>
/// Thread-pool completions of one connection, handed to the pool a batch at a time instead of one work item per
/// command. The receive thread claims each command as its status arrives and <see cref="Defer"/>s it here; when the
/// transport has delivered everything it read (<see cref="IPduReceiver.OnReceiveIdle"/>) one work item runs the
/// callers' continuations in turn, with the connection's sends held so the commands they issue leave together. At most
/// one hand-off per command, usually far fewer: one wake-up per read rather than per status.
/// <code>
///   idle ──Defer──▶ filling ──Flush──▶ scheduled (one work item queued) ──▶ draining: takes the batch filled so far,
///     ▲                                                                     runs each continuation, takes the next
///     └──────────────────────── nothing filled ◀────────────────────────── batch filled meanwhile
///   draining, a continuation past StallLimit (it blocked, maybe on a command later in the same batch):
///     the watchdog supersedes that drainer, sends what it held, and queues a new drainer that runs the rest of the
///     batch and the lane from then on; the stuck one leaves when its continuation returns.
/// </code>
/// </summary>
internal sealed class CompletionLane
{
    /// <summary>A continuation running this long is taken to block; the rest of its batch moves to another thread.</summary>
    public const int StallLimitMilliseconds = 20;

    /// <summary>How long a deferred result may wait for the transport to go idle (where its idle moments are not bounded).</summary>
    public const int MaxHoldMicroseconds = 100;
    private static readonly long s_maxHoldTicks = Stopwatch.Frequency * MaxHoldMicroseconds / 1_000_000;

    private readonly IInitiatorDatamover _datamover;
    private readonly Lock _gate = new();
    private CompletionBatch _filling = new(); // under _gate
    private CompletionBatch? _spare;          // under _gate
    private bool _scheduled;                  // under _gate: a drainer is queued or running
    private Drainer _drainer;                 // written under _gate: the one drainer that may take batches
    private CompletionBatch? _current;        // the batch the lane's drainer runs (for a rescue)
    private long _oldestDeferred;             // Stopwatch timestamp of the first result in _filling; 0 when empty
    private bool _ended;                      // under _gate: nothing more is deferred; leave the watchdog once drained
    private int _superseded;                  // drainers replaced by a rescue and not yet back from their continuation

    public CompletionLane(IInitiatorDatamover datamover)
    {
        _datamover = datamover;
        _drainer = new Drainer(this);
    }

    /// <summary>Rescues performed: drainers found stuck in a continuation and replaced.</summary>
    public int Rescues { get; private set; }

    /// <summary>Receive thread: the command's result, published at the next <see cref="Flush"/>.</summary>
    public void Defer(InitiatorTask task, in ScsiResponse response)
    {
        lock (_gate)
        {
            if (_filling.Count == 0) Volatile.Write(ref _oldestDeferred, Stopwatch.GetTimestamp());
            _filling.Add(task, response);
        }
    }

    /// <summary>
    /// True when a <see cref="Flush"/> now would run or queue a batch (results wait and no drainer runs), and no drainer
    /// superseded by a rescue is still inside a continuation: so the thread that ran the lane's last batch is past it.
    /// </summary>
    public bool HasWork
    {
        get
        {
            lock (_gate) return !_scheduled && _filling.Count > 0 && Volatile.Read(ref _superseded) == 0;
        }
    }

    /// <summary>
    /// Receive side, when the transport is idle: what was deferred goes to the thread pool, or runs on this thread when
    /// <paramref name="runHere"/> (a pool thread the transport has let go: its next read completes elsewhere).
    /// </summary>
    public void Flush(bool runHere = false)
    {
        Drainer drainer;
        lock (_gate)
        {
            if (_scheduled || _filling.Count == 0) return;
            _scheduled = true;
            drainer = _drainer;
        }
        if (runHere) drainer.Execute();
        else ThreadPool.UnsafeQueueUserWorkItem(drainer, preferLocal: false);
    }

    /// <summary>
    /// Receive thread, after each PDU: a result deferred longer than <see cref="MaxHoldMicroseconds"/> goes to the pool
    /// now. The transport is idle only when its socket or queue runs dry, which a stream of large reads may not let
    /// happen for a while; the commands already answered must not wait for that.
    /// </summary>
    public void FlushIfHeldTooLong()
    {
        long oldest = Volatile.Read(ref _oldestDeferred);
        if (oldest != 0 && Stopwatch.GetTimestamp() - oldest > s_maxHoldTicks) Flush();
    }

    /// <summary>Receive thread, once its connection delivers nothing more: the rest goes out, then the watchdog lets go.</summary>
    public void End()
    {
        Flush();
        bool drained;
        lock (_gate)
        {
            _ended = true;
            drained = !_scheduled;
        }
        if (drained) CompletionLaneWatchdog.Unregister(this);
    }

    /// <summary>Watchdog: moves the work off a drainer that has run one continuation past the limit.</summary>
    public void CheckStall(long now)
    {
        // A superseded drainer still inside its continuation holds what that continuation sends (its thread's batch
        // is open): those PDUs must not wait for it to return.
        if (Volatile.Read(ref _superseded) > 0) _datamover.FlushSends();
        var stuck = Volatile.Read(ref _drainer);
        long since = Volatile.Read(ref stuck.Since);
        if (since == 0 || now - since <= StallLimitMilliseconds) return;
        Drainer fresh;
        lock (_gate)
        {
            if (!ReferenceEquals(_drainer, stuck) || Volatile.Read(ref stuck.Since) != since) return;
            fresh = new Drainer(this);
            if (_current is { } batch && batch.TryEnter()) fresh.Resume = batch;
            _drainer = fresh;
            Rescues++;
            Interlocked.Increment(ref _superseded);
        }
        _datamover.FlushSends();
        ThreadPool.UnsafeQueueUserWorkItem(fresh, preferLocal: false);
    }

    private void Drain(Drainer me)
    {
        var batch = me.Resume;
        me.Resume = null;
        while (true)
        {
            if (batch is null)
            {
                lock (_gate)
                {
                    if (!ReferenceEquals(_drainer, me))
                    {
                        Interlocked.Decrement(ref _superseded); // superseded after its last continuation returned
                        return;
                    }
                    if (_filling.Count == 0)
                    {
                        _scheduled = false;
                        if (_ended) CompletionLaneWatchdog.Unregister(this);
                        return;
                    }
                    batch = _filling;
                    Volatile.Write(ref _oldestDeferred, 0);
                    _filling = _spare ?? new CompletionBatch();
                    _spare = null;
                    batch.Enter();
                    _current = batch;
                }
            }
            bool superseded = Run(me, batch);
            if (batch.Leave())
            {
                batch.Clear();
                lock (_gate) _spare ??= batch;
            }
            if (superseded)
            {
                Interlocked.Decrement(ref _superseded);
                return;
            }
            batch = null;
        }
    }

    /// <summary>Runs the batch's continuations with sends held; true when this drainer was superseded meanwhile.</summary>
    private bool Run(Drainer me, CompletionBatch batch)
    {
        _datamover.BeginSendBatch();
        try
        {
            while (batch.TryClaim(out var task, out var response))
            {
                Volatile.Write(ref me.Since, Math.Max(1, Environment.TickCount64));
                task.PublishHere(response);
                Volatile.Write(ref me.Since, 0);
                if (!ReferenceEquals(Volatile.Read(ref _drainer), me)) return true;
            }
            return false;
        }
        finally
        {
            _datamover.EndSendBatch();
        }
    }

    private sealed class Drainer(CompletionLane lane) : IThreadPoolWorkItem
    {
        /// <summary>Environment.TickCount64 when the continuation now running began; 0 between continuations.</summary>
        public long Since;
        /// <summary>For a rescuing drainer: the batch it continues before taking new ones.</summary>
        public CompletionBatch? Resume;

        public void Execute() => lane.Drain(this);
    }
}
