using Iser.Core.Datamover;
using Iser.Core.Iscsi.Pdus;
using Iser.Core.Iscsi.Sessions;
using Microsoft.Extensions.Logging;

namespace Iser.Core.Iscsi.Initiator;

/// <summary>
/// One logged-in connection of an initiator session: its datamover, the CmdSN window and the sequence numbers it
/// stamps. CmdSN is stamped in wire order by the datamover's writer (<see cref="OnSending"/>); callers first
/// reserve a place in the window (<see cref="AcquireSlotAsync"/>), so every stamped CmdSN is at most MaxCmdSN.
/// </summary>
internal sealed class InitiatorConnection : IDatamoverHost
{
    private readonly object _windowGate = new();
    private readonly Queue<TaskCompletionSource> _windowWaiters = new();
    private uint _nextCmdSN;        // next CmdSN the writer stamps (writer thread only)
    private uint _reservedCmdSN;    // CmdSN the next reservation will eventually be stamped with
    private uint _expCmdSN;
    private uint _maxCmdSN;
    private uint _expStatSN;
    private Exception? _failure;
    private int _lost;
    // ERL 1: statuses that arrived beyond a StatSN gap (ExpStatSN stays at the gap until it is filled), and how far the
    // gap has been asked for already (one Status SNACK per gap).
    private readonly bool _recoverStatus;
    private HashSet<uint>? _statusBeyondGap;
    private uint _statusAskedUpTo;
    // ERL 1: StatSNs of statuses held back while their read data is incomplete. ExpStatSN must not pass them: a target
    // releases what is acknowledged, and a Data SNACK for an acknowledged task is a protocol error (RFC 7143 §11.16).
    private readonly List<uint> _heldStatus = new();
    private volatile int _heldCount;

    private readonly ILogger _pduLogger;

    public InitiatorConnection(IInitiatorDatamover datamover, uint expCmdSN, uint maxCmdSN, uint expStatSN, ILogger pduLogger,
        int errorRecoveryLevel = 0)
    {
        ErrorRecoveryLevel = errorRecoveryLevel;
        _recoverStatus = errorRecoveryLevel >= 1;
        _statusAskedUpTo = expStatSN;
        _pduLogger = pduLogger;
        Datamover = datamover;
        _nextCmdSN = _reservedCmdSN = _expCmdSN = expCmdSN;
        _maxCmdSN = maxCmdSN;
        _expStatSN = expStatSN;
        LastReceiveTicks = Environment.TickCount64;
    }

    public IInitiatorDatamover Datamover { get; }
    /// <summary>The session's negotiated ErrorRecoveryLevel.</summary>
    public int ErrorRecoveryLevel { get; }
    public long LastReceiveTicks;
    public long KeepAliveSentTicks;
    public bool KeepAliveOutstanding;
    /// <summary>Where the datamover pushes this connection's PDUs, once the session installed it.</summary>
    public ConnectionReceiver? Receiver;

    public uint ExpStatSN => Volatile.Read(ref _expStatSN);
    /// <summary>The CmdSN the next non-immediate PDU would take (a connection replacing this one starts there).</summary>
    public uint NextCmdSN => Volatile.Read(ref _nextCmdSN);

    /// <summary>ExpStatSN as sent: no further than the lowest status held back for missing data.</summary>
    private uint AcknowledgedStatSN()
    {
        uint exp = Volatile.Read(ref _expStatSN);
        if (_heldCount == 0) return exp;
        lock (_heldStatus)
            foreach (uint held in _heldStatus)
                if (SerialNumber.LessThan(held, exp)) exp = held;
        return exp;
    }

    /// <summary>ERL 1: a status arrived before all its read data; it is not acknowledged until <see cref="ReleaseStatus"/>.</summary>
    public void HoldStatus(uint statSN)
    {
        lock (_heldStatus)
        {
            _heldStatus.Add(statSN);
            _heldCount = _heldStatus.Count;
        }
    }

    public void ReleaseStatus(uint statSN)
    {
        lock (_heldStatus)
        {
            _heldStatus.Remove(statSN);
            _heldCount = _heldStatus.Count;
        }
    }
    public uint ExpCmdSN { get { lock (_windowGate) return _expCmdSN; } }
    public uint MaxCmdSN { get { lock (_windowGate) return _maxCmdSN; } }
    public Exception? Failure => Volatile.Read(ref _failure);

    /// <summary>True for the first caller only: that caller handles the loss.</summary>
    public bool MarkLost(Exception reason)
    {
        if (Interlocked.Exchange(ref _lost, 1) != 0) return false;
        TaskCompletionSource[] waiters;
        lock (_windowGate)
        {
            _failure ??= reason;
            waiters = [.. _windowWaiters];
            _windowWaiters.Clear();
        }
        foreach (var w in waiters) w.TrySetException(reason);
        return true;
    }

    /// <summary>
    /// Waits until the window has room for one more non-immediate PDU, and reserves it. A closed window is ordinary
    /// back-pressure: the caller waits until a target PDU raises MaxCmdSN.
    /// </summary>
    public ValueTask AcquireSlotAsync(CancellationToken ct)
    {
        TaskCompletionSource waiter;
        lock (_windowGate)
        {
            if (_failure is not null) return ValueTask.FromException(_failure);
            while (_windowWaiters.Count > 0 && _windowWaiters.Peek().Task.IsCompleted) _windowWaiters.Dequeue(); // cancelled waiters
            if (_windowWaiters.Count == 0 && SerialNumber.LessOrEqual(_reservedCmdSN, _maxCmdSN))
            {
                _reservedCmdSN++;
                return ValueTask.CompletedTask;
            }
            waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _windowWaiters.Enqueue(waiter);
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
        lock (_windowGate)
        {
            _reservedCmdSN--;
            GrantWaiters();
        }
    }

    /// <summary>
    /// Takes ExpCmdSN/MaxCmdSN and StatSN from a target PDU (RFC 7143 §4.2.2.1, §4.2.2.2). At ErrorRecoveryLevel 1 a
    /// status beyond ExpStatSN leaves a gap: ExpStatSN waits there, and the run to ask for again (Status SNACK) is
    /// returned the first time it is seen.
    /// </summary>
    public (uint BegRun, uint RunLength)? NoteTargetPdu(Pdu pdu)
    {
        var op = pdu.Opcode;
        bool consumesStatSN = op switch
        {
            IscsiOpcode.ScsiResponse or IscsiOpcode.TaskManagementResponse or IscsiOpcode.TextResponse or IscsiOpcode.LogoutResponse
                or IscsiOpcode.Reject or IscsiOpcode.AsyncMessage => true,
            IscsiOpcode.DataIn => (pdu.Flags & 0x01) != 0,
            IscsiOpcode.NopIn => pdu.InitiatorTaskTag != Pdu.ReservedTag,
            _ => false,
        };
        (uint, uint)? gap = null;
        if (consumesStatSN)
        {
            uint statSN = pdu.Field24;
            uint current = Volatile.Read(ref _expStatSN);
            if (!_recoverStatus)
            {
                if (SerialNumber.GreaterOrEqual(statSN, current)) Volatile.Write(ref _expStatSN, statSN + 1);
            }
            else gap = NoteStatus(statSN, current);
        }
        WindowFrom(pdu);
        return gap;
    }

    // ERL 1, on the receive thread only. _statusAskedUpTo: every StatSN below it has arrived or been asked for.
    private (uint, uint)? NoteStatus(uint statSN, uint current)
    {
        if (SerialNumber.LessThan(statSN, current)) return null; // a resent status already counted
        if (statSN != current)
        {
            (_statusBeyondGap ??= new HashSet<uint>()).Add(statSN);
            uint from = SerialNumber.GreaterThan(_statusAskedUpTo, current) ? _statusAskedUpTo : current;
            if (SerialNumber.GreaterThan(statSN + 1, _statusAskedUpTo)) _statusAskedUpTo = statSN + 1;
            if (!SerialNumber.LessThan(from, statSN)) return null; // nothing before it that was not asked for already
            return (from, statSN - from);
        }
        uint next = statSN + 1;
        if (_statusBeyondGap is { Count: > 0 } beyond)
            while (beyond.Remove(next)) next++;
        if (SerialNumber.GreaterThan(next, _statusAskedUpTo)) _statusAskedUpTo = next;
        Volatile.Write(ref _expStatSN, next);
        return null;
    }

    private void WindowFrom(Pdu pdu)
    {
        var op = pdu.Opcode;
        if (op == IscsiOpcode.Reject) return; // Reject carries the window too, but some targets leave it zero
        uint exp = pdu.Field28, max = pdu.Field32;
        // MaxCmdSN = ExpCmdSN - 1 means a closed window; anything further below is invalid and ignored.
        if (SerialNumber.LessThan(max, exp - 1)) return;
        lock (_windowGate)
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
        while (_windowWaiters.Count > 0 && SerialNumber.LessOrEqual(_reservedCmdSN, _maxCmdSN))
        {
            var w = _windowWaiters.Dequeue();
            if (w.TrySetResult()) _reservedCmdSN++;
        }
    }

    /// <summary>Stamps CmdSN (in wire order) and ExpStatSN into an outgoing PDU.</summary>
    public void OnSending(Pdu pdu)
    {
        switch (pdu.Opcode)
        {
            case IscsiOpcode.ScsiCommand:
            case IscsiOpcode.TaskManagementRequest:
            case IscsiOpcode.TextRequest:
            case IscsiOpcode.LogoutRequest:
            case IscsiOpcode.NopOut:
                // A retried command keeps its CmdSN (RFC 7143 §6.2.1).
                if (pdu.Retransmission && pdu.Context is InitiatorTask retried)
                {
                    pdu.Field24 = retried.CmdSN;
                    break;
                }
                // Immediate PDUs carry the current CmdSN without advancing it (RFC 7143 §3.2.2.1).
                pdu.Field24 = pdu.Immediate ? _nextCmdSN : _nextCmdSN++;
                if (pdu.Context is InitiatorTask task) task.CmdSN = pdu.Field24;
                break;
        }
        pdu.Field28 = AcknowledgedStatSN();
        if (_pduLogger.IsEnabled(LogLevel.Trace)) _pduLogger.LogTrace("-> {Pdu} CmdSN={CmdSN} ExpStatSN={ExpStatSN}", pdu, pdu.Field24, pdu.Field28);
    }
}
