using Iser.Core.Iscsi.Pdus;
using Iser.Core.Iscsi.Sessions;

namespace Iser.Core.Iscsi.Initiator;

/// <summary>
/// The session's CmdSN window (RFC 7143 §4.2.2.1), shared by all its connections: CmdSN is stamped in wire order by
/// each connection's writer (<see cref="Stamp"/>), and callers first reserve a place in the window
/// (<see cref="AcquireSlotAsync"/>), so every stamped CmdSN is at most MaxCmdSN whichever connection carries it. A
/// session recovered by a new login (ERL 0 and 1) starts a new window; one whose connection is replaced inside it
/// (ERL 2) keeps its own.
/// </summary>
internal sealed class CommandWindow
{
    private readonly object _gate = new();
    private readonly Queue<TaskCompletionSource> _waiters = new();
    private uint _nextCmdSN;        // next CmdSN a writer stamps
    private uint _reservedCmdSN;    // CmdSN the next reservation will eventually be stamped with
    private uint _expCmdSN;
    private uint _maxCmdSN;
    private Exception? _failure;

    public CommandWindow(uint expCmdSN, uint maxCmdSN)
    {
        _nextCmdSN = _reservedCmdSN = _expCmdSN = expCmdSN;
        _maxCmdSN = maxCmdSN;
    }

    public uint ExpCmdSN { get { lock (_gate) return _expCmdSN; } }
    public uint MaxCmdSN { get { lock (_gate) return _maxCmdSN; } }
    /// <summary>The CmdSN the next non-immediate PDU would take (a connection joining the session logs in with it).</summary>
    public uint NextCmdSN { get { lock (_gate) return _nextCmdSN; } }

    /// <summary>The window is given up (the session ends or starts over): waiters fail with <paramref name="reason"/>.</summary>
    public void Fail(Exception reason)
    {
        TaskCompletionSource[] waiters;
        lock (_gate)
        {
            _failure ??= reason;
            waiters = [.. _waiters];
            _waiters.Clear();
        }
        foreach (var w in waiters) w.TrySetException(reason);
    }

    /// <summary>
    /// Waits until the window has room for one more non-immediate PDU, and reserves it. A closed window is ordinary
    /// back-pressure: the caller waits until a target PDU raises MaxCmdSN.
    /// </summary>
    public ValueTask AcquireSlotAsync(CancellationToken ct)
    {
        TaskCompletionSource waiter;
        lock (_gate)
        {
            if (_failure is not null) return ValueTask.FromException(_failure);
            while (_waiters.Count > 0 && _waiters.Peek().Task.IsCompleted) _waiters.Dequeue(); // cancelled waiters
            if (_waiters.Count == 0 && SerialNumber.LessOrEqual(_reservedCmdSN, _maxCmdSN))
            {
                _reservedCmdSN++;
                return ValueTask.CompletedTask;
            }
            waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Enqueue(waiter);
        }
        return WaitForSlotAsync(waiter, ct);
    }

    private async ValueTask WaitForSlotAsync(TaskCompletionSource waiter, CancellationToken ct)
    {
        try
        {
            await waiter.Task.WaitAsync(ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // If the slot was granted in the meantime, give it back.
            if (!waiter.TrySetCanceled() && waiter.Task.IsCompletedSuccessfully) ReleaseUnusedSlot();
            throw;
        }
    }

    /// <summary>A reserved slot that will not be used after all (the command was cancelled before it was sent).</summary>
    public void ReleaseUnusedSlot()
    {
        lock (_gate)
        {
            _reservedCmdSN--;
            GrantWaiters();
        }
    }

    /// <summary>The CmdSN for an outgoing PDU, in wire order: immediate PDUs carry the next one without taking it (§3.2.2.1).</summary>
    public uint Stamp(bool immediate)
    {
        lock (_gate) return immediate ? _nextCmdSN : _nextCmdSN++;
    }

    /// <summary>ExpCmdSN/MaxCmdSN from a target PDU on any connection of the session.</summary>
    public void Update(Pdu pdu)
    {
        if (pdu.Opcode == IscsiOpcode.Reject) return; // Reject carries the window too, but some targets leave it zero
        uint exp = pdu.Field28, max = pdu.Field32;
        // MaxCmdSN = ExpCmdSN - 1 means a closed window; anything further below is invalid and ignored.
        if (SerialNumber.LessThan(max, exp - 1)) return;
        lock (_gate)
        {
            if (SerialNumber.GreaterThan(exp, _expCmdSN)) _expCmdSN = exp;
            if (SerialNumber.GreaterThan(max, _maxCmdSN))
            {
                _maxCmdSN = max;
                GrantWaiters();
            }
        }
    }

    private void GrantWaiters()
    {
        while (_waiters.Count > 0 && SerialNumber.LessOrEqual(_reservedCmdSN, _maxCmdSN))
        {
            var w = _waiters.Dequeue();
            if (w.TrySetResult()) _reservedCmdSN++;
        }
    }
}
