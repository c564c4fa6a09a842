using System.Diagnostics;

namespace Iser.Core.Threading;

/// <summary>
/// Two threads that take turns at one job, reading a connection (a socket, a completion queue), so that work found
/// by a read can run on the thread that read it without stalling the reads: the holder passes the turn to its partner,
/// which reads from then on, and runs the work itself. Unlike a hand-off to the thread pool, no wake-up stands between
/// the read and the work (the partner's wake-up happens beside it), and the thread that runs it may block without
/// holding back the next read. The partner thread starts at the first pass.
/// <code>
///   A: read ─ work found ─ TryPass ─ run work ─ AwaitTurn ···················· read ...
///   B: (started) ────────────────── read ─ work found ─ TryPass ─ run work ─ AwaitTurn ...
///   TryPass is false while the partner still runs its own work: the holder keeps reading, and the work goes elsewhere.
///   A partner past its work but not yet waiting takes a turn passed meanwhile on arrival, without sleeping.
/// </code>
/// The waiting thread sleeps on a futex where there is one: the runtime's Monitor spins before it sleeps and after it
/// wakes, which, once per batch of responses, costs more CPU than the pass itself.
/// </summary>
public sealed class TurnRelay
{
    private readonly Action _partnerLoop;
    private readonly string _partnerName;
    private readonly object _gate = new(); // Monitor: where there is no futex, the waiting thread sleeps on it
    private readonly Futex? _changed = Futex.IsSupported ? new Futex() : null;
    private bool _partnerStarted, _partnerWaiting, _turnPassed, _ended; // under _gate
    private Thread? _partner;

    /// <summary>The partner thread once started (an owner that must wait for both its threads joins it too).</summary>
    public Thread? Partner => Volatile.Read(ref _partner);

    /// <param name="partnerLoop">What the partner runs once it holds the turn: the reading loop, as the first thread runs it.</param>
    /// <param name="partnerName">The partner thread's name.</param>
    public TurnRelay(Action partnerLoop, string partnerName)
    {
        _partnerLoop = partnerLoop;
        _partnerName = partnerName;
    }

    /// <summary>
    /// Holder: gives the turn to the partner if it waits for one (starting it the first time). False if it is busy.
    /// With <paramref name="partnerIsReturning"/> (the caller knows the partner's work is done, e.g. no batch of its runs
    /// and none stuck) a partner not yet waiting gets the turn without a wake-up: it is between the end of its work and
    /// <see cref="AwaitTurn"/>, where it finds the turn and reads on without sleeping. Reads pause only for that short
    /// way back, which runs no caller code, and the holder's work never goes to the thread pool for it.
    /// </summary>
    public bool TryPass(bool partnerIsReturning = false)
    {
        lock (_gate)
        {
            if (_ended) return false;
            if (!_partnerStarted)
            {
                _partnerStarted = true;
                _turnPassed = true;
                var partner = new Thread(() => { if (AwaitTurn()) _partnerLoop(); }) { IsBackground = true, Name = _partnerName };
                Volatile.Write(ref _partner, partner);
                partner.Start();
                return true;
            }
            if (!_partnerWaiting)
            {
                if (!partnerIsReturning) return false;
                Debug.Assert(!_turnPassed, "a turn is pending while its holder passes it again");
                _turnPassed = true; // taken in AwaitTurn, on its way
                return true;
            }
            _partnerWaiting = false;
            _turnPassed = true;
            if (_changed is null) Monitor.PulseAll(_gate);
        }
        _changed?.Signal();
        return true;
    }

    /// <summary>
    /// After a pass: waits until the turn comes back. False when the job ended meanwhile (the thread should leave).
    /// A pending turn goes to whichever thread asks first: right after the first pass the passer may take it back before
    /// the new partner runs, which then waits in its place. Both threads run the same loop, so the roles just swap.
    /// </summary>
    public bool AwaitTurn()
    {
        while (true)
        {
            int seen;
            lock (_gate)
            {
                if (_turnPassed)
                {
                    _turnPassed = false;
                    return true;
                }
                if (_ended) return false;
                _partnerWaiting = true;
                if (_changed is null)
                {
                    Monitor.Wait(_gate);
                    continue;
                }
                seen = _changed.Value;
            }
            _changed.Wait(seen);
        }
    }

    /// <summary>Holder: the job is over (the connection ended); a waiting thread leaves, later passes fail.</summary>
    public void End()
    {
        lock (_gate)
        {
            _ended = true;
            if (_changed is null) Monitor.PulseAll(_gate);
        }
        _changed?.Signal();
    }
}
