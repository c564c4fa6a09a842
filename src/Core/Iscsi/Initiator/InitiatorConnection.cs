using Iser.Core.Datamover;
using Iser.Core.Iscsi.Pdus;
using Iser.Core.Iscsi.Sessions;
using Microsoft.Extensions.Logging;

namespace Iser.Core.Iscsi.Initiator;

/// <summary>
/// One logged-in connection of an initiator session: its datamover, its StatSN acknowledgement and the sequence numbers
/// it stamps. CmdSN comes from the session's <see cref="CommandWindow"/>, shared by all its connections, stamped in wire
/// order by the datamover's writer (<see cref="OnSending"/>).
/// </summary>
internal sealed class InitiatorConnection : IDatamoverHost
{
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

    public InitiatorConnection(IInitiatorDatamover datamover, CommandWindow window, ushort cid, uint expStatSN, ILogger pduLogger,
        int errorRecoveryLevel = 0)
    {
        Window = window;
        Cid = cid;
        ErrorRecoveryLevel = errorRecoveryLevel;
        _recoverStatus = errorRecoveryLevel >= 1;
        _statusAskedUpTo = expStatSN;
        _pduLogger = pduLogger;
        Datamover = datamover;
        _expStatSN = expStatSN;
        LastReceiveTicks = Environment.TickCount64;
    }

    public IInitiatorDatamover Datamover { get; }
    /// <summary>The session's CmdSN window this connection stamps from.</summary>
    public CommandWindow Window { get; }
    /// <summary>The connection's ID within the session (0 for the leading one).</summary>
    public ushort Cid { get; }
    /// <summary>The session's negotiated ErrorRecoveryLevel.</summary>
    public int ErrorRecoveryLevel { get; }
    public long LastReceiveTicks;
    public long KeepAliveSentTicks;
    public bool KeepAliveOutstanding;
    /// <summary>Where the datamover pushes this connection's PDUs, once the session installed it.</summary>
    public ConnectionReceiver? Receiver;

    public uint ExpStatSN => Volatile.Read(ref _expStatSN);

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
    public Exception? Failure => Volatile.Read(ref _failure);

    /// <summary>True for the first caller only: that caller handles the loss.</summary>
    public bool MarkLost(Exception reason)
    {
        if (Interlocked.Exchange(ref _lost, 1) != 0) return false;
        Interlocked.CompareExchange(ref _failure, reason, null);
        return true;
    }

    /// <summary>Reserves a place in the session's window (see <see cref="CommandWindow.AcquireSlotAsync"/>).</summary>
    public ValueTask AcquireSlotAsync(CancellationToken ct) => Window.AcquireSlotAsync(ct);

    public void ReleaseUnusedSlot() => Window.ReleaseUnusedSlot();

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
        Window.Update(pdu);
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
                pdu.Field24 = Window.Stamp(pdu.Immediate);
                if (pdu.Context is InitiatorTask task)
                {
                    task.CmdSN = pdu.Field24;
                    task.StampedOn = this;
                }
                break;
        }
        pdu.Field28 = AcknowledgedStatSN();
        if (_pduLogger.IsEnabled(LogLevel.Trace)) _pduLogger.LogTrace("-> {Pdu} CmdSN={CmdSN} ExpStatSN={ExpStatSN}", pdu, pdu.Field24, pdu.Field28);
    }
}
