using Iser.Core.Iscsi.Pdus;
using Iser.Core.Iscsi.Sessions;

namespace Iser.Core.Iscsi.Target;

/// <summary>
/// Command sequencing at the target (RFC 7143 §4.2.2.1), one per session: non-immediate PDUs from all of the
/// session's connections run in CmdSN order, each on the connection it arrived on (connection allegiance). One ahead
/// inside the window waits here; one outside the window is for the caller to ignore (or to recognise as a retry).
/// The window itself (ExpCmdSN, MaxCmdSN) is the session's.
/// <para>
/// Whoever places the expected PDU becomes the drainer: it runs that PDU and then every held one it unblocks, whichever
/// connection they came from, while arrivals on other connections only join the queue. So PDUs start in CmdSN order
/// without a lock held while they run.
/// </para>
/// <code>
///   Arrive ── outside the window ──▶ caller's (ignored, or a retry)
///     │ inside: queued; nobody draining? ──▶ caller drains: TryTakeNext until false (false also ends the drain)
///     └ somebody draining ──▶ it will run this one in its turn
/// </code>
/// </summary>
internal sealed class CommandSequencer
{
    private readonly object _lock = new();
    private readonly SortedList<uint, Entry> _held = new(new SerialComparer());
    private bool _draining;

    /// <summary>A PDU waiting for its CmdSN; a null connection marks a CmdSN that counts as received and runs nothing
    /// (a command aborted before it arrived or ran, RFC 7143 §11.5.1).</summary>
    private readonly record struct Entry(TargetConnection? Connection, Pdu? Pdu);

    /// <summary>True for the PDUs that take a CmdSN and are ordered by it.</summary>
    public static bool IsOrdered(Pdu pdu) => !pdu.Immediate && pdu.Opcode is IscsiOpcode.ScsiCommand or IscsiOpcode.TaskManagementRequest
        or IscsiOpcode.TextRequest or IscsiOpcode.LogoutRequest or IscsiOpcode.NopOut;

    /// <summary>
    /// Places an ordered PDU of <paramref name="connection"/>. <see cref="Arrival.RunNow"/>: it was the expected one with
    /// nothing waiting; the caller runs it (ExpCmdSN already advanced) and then drains. <see cref="Arrival.Drain"/>: the
    /// caller drains now
    /// (<see cref="DrainAll"/>); <see cref="Arrival.Queued"/>: it waits for its turn or another thread runs it;
    /// <see cref="Arrival.Outside"/> and <see cref="Arrival.Duplicate"/> (its CmdSN is already waiting or was aborted):
    /// not taken, the caller still owns the PDU.
    /// </summary>
    public Arrival Arrive(TargetSession session, TargetConnection connection, Pdu pdu)
    {
        uint cmdSN = pdu.Field24;
        lock (_lock)
        {
            if (session.Check(cmdSN) == CmdSNCheck.OutsideWindow) return Arrival.Outside;
            if (!_draining && _held.Count == 0 && cmdSN == session.ExpCmdSN)
            {
                // The usual case, in order with nothing waiting: the caller runs it, then drains.
                session.Advance();
                _draining = true;
                return Arrival.RunNow;
            }
            if (!_held.TryAdd(cmdSN, new Entry(connection, pdu))) return Arrival.Duplicate;
            if (_draining) return Arrival.Queued;
            _draining = true;
            return Arrival.Drain;
        }
    }

    public enum Arrival { RunNow, Drain, Queued, Outside, Duplicate }

    /// <summary>
    /// The drainer's next PDU, the one at ExpCmdSN (advancing it), with the connection it belongs to. False when the
    /// next CmdSN has not arrived: the drain ends.
    /// </summary>
    public bool TryTakeNext(TargetSession session, out TargetConnection connection, out Pdu pdu)
    {
        lock (_lock)
        {
            while (_held.Remove(session.ExpCmdSN, out var entry))
            {
                session.Advance();
                if (entry.Connection is null)
                {
                    session.ReleaseSlot(); // an aborted CmdSN: counted as received, nothing runs
                    continue;
                }
                connection = entry.Connection;
                pdu = entry.Pdu!;
                return true;
            }
            _draining = false;
        }
        connection = null!;
        pdu = null!;
        return false;
    }

    /// <summary>
    /// ABORT TASK for a command not yet run (RFC 7143 §11.5.1 a): one waiting is dropped; one not yet arrived is
    /// ignored when it comes. Either way its CmdSN counts as received. False when <paramref name="cmdSN"/> is not
    /// ahead of ExpCmdSN inside the window (it ran, or can never run).
    /// </summary>
    public bool TryAbortPending(TargetSession session, uint cmdSN)
    {
        Pdu? dropped = null;
        bool drain;
        lock (_lock)
        {
            if (session.Check(cmdSN) == CmdSNCheck.OutsideWindow) return false;
            if (_held.TryGetValue(cmdSN, out var entry)) dropped = entry.Pdu;
            _held[cmdSN] = new Entry(null, null);
            drain = !_draining && session.ExpCmdSN == cmdSN;
            if (drain) _draining = true;
        }
        if (dropped is not null) PduPool.Return(dropped);
        if (drain) DrainAll(session);
        return true;
    }

    /// <summary>Runs what became runnable; used where the caller is not a connection's receive loop.</summary>
    public void DrainAll(TargetSession session)
    {
        while (TryTakeNext(session, out var connection, out var pdu)) connection.RunOrdered(pdu);
    }

    /// <summary>
    /// A connection is gone. Its commands waiting for their turn that were handed to the session (ERL 2) stay and run in
    /// their turn as orphans, for TASK REASSIGN to take over; everything else it had waiting counts as received and
    /// runs nothing. Returns the accepted commands dropped so (for the caller to end), and whether a drain is due.
    /// </summary>
    public (List<TargetTask>? Dropped, bool Drain) RemoveConnection(TargetSession session, TargetConnection connection)
    {
        List<Pdu>? pdus = null;
        List<TargetTask>? tasks = null;
        bool drain = false;
        lock (_lock)
        {
            for (int i = 0; i < _held.Count; i++)
            {
                var entry = _held.Values[i];
                if (!ReferenceEquals(entry.Connection, connection)) continue;
                if (entry.Pdu!.Context is TargetTask { Orphaned: true }) continue;
                if (entry.Pdu.Context is TargetTask accepted) (tasks ??= new()).Add(accepted);
                (pdus ??= new()).Add(entry.Pdu);
                _held[_held.Keys[i]] = new Entry(null, null);
            }
            if (pdus is not null && !_draining && _held.ContainsKey(session.ExpCmdSN))
            {
                _draining = true;
                drain = true;
            }
        }
        if (pdus is not null)
            foreach (var p in pdus) PduPool.Return(p);
        return (tasks, drain);
    }

    public void Clear()
    {
        lock (_lock)
        {
            foreach (var e in _held.Values)
                if (e.Pdu is not null) PduPool.Return(e.Pdu);
            _held.Clear();
        }
    }

    private sealed class SerialComparer : IComparer<uint>
    {
        public int Compare(uint x, uint y) => x == y ? 0 : SerialNumber.LessThan(x, y) ? -1 : 1;
    }
}
