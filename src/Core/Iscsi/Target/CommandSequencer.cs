using Iser.Core.Iscsi.Pdus;
using Iser.Core.Iscsi.Sessions;

namespace Iser.Core.Iscsi.Target;

/// <summary>
/// Command sequencing at the target (RFC 7143 §4.2.2.1): non-immediate PDUs run in CmdSN order. The expected one runs
/// (and then any held ones it unblocks); one ahead inside the window waits here; one outside the window is for the
/// caller to ignore (or to recognise as a retry). The window itself (ExpCmdSN, MaxCmdSN) is the session's.
/// </summary>
internal sealed class CommandSequencer
{
    private readonly SortedList<uint, Pdu> _held = new(new SerialComparer());

    /// <summary>True for the PDUs that take a CmdSN and are ordered by it.</summary>
    public static bool IsOrdered(Pdu pdu) => !pdu.Immediate && pdu.Opcode is IscsiOpcode.ScsiCommand or IscsiOpcode.TaskManagementRequest
        or IscsiOpcode.TextRequest or IscsiOpcode.LogoutRequest or IscsiOpcode.NopOut;

    /// <summary>
    /// Places an ordered PDU: returns the PDU to run now (advancing ExpCmdSN), or null when it was held (ahead) or is
    /// outside the window (<paramref name="outside"/> set; the caller owns it then).
    /// </summary>
    public Pdu? Arrive(TargetSession session, Pdu pdu, out bool outside)
    {
        outside = false;
        uint cmdSN = pdu.Field24;
        switch (session.Check(cmdSN))
        {
            case CmdSNCheck.OutsideWindow:
                outside = true;
                return null;
            case CmdSNCheck.Ahead:
                lock (_held)
                {
                    if (!_held.TryAdd(cmdSN, pdu)) PduPool.Return(pdu); // a duplicate of one already waiting
                }
                return null;
        }
        session.Advance();
        return pdu;
    }

    /// <summary>The held PDU the last one unblocked (advancing ExpCmdSN), or null.</summary>
    public Pdu? Next(TargetSession session)
    {
        Pdu? next;
        lock (_held)
        {
            if (!_held.Remove(session.ExpCmdSN, out next)) return null;
        }
        session.Advance();
        return next;
    }

    /// <summary>ABORT TASK for a command not yet run (§11.5.1 a): a held one is dropped and its CmdSN counts as received.</summary>
    public bool TryDropHeld(TargetSession session, uint cmdSN)
    {
        Pdu? held;
        lock (_held)
        {
            if (!_held.Remove(cmdSN, out held)) return false;
        }
        PduPool.Return(held);
        session.Advance();
        session.ReleaseSlot();
        return true;
    }

    public void Clear()
    {
        lock (_held)
        {
            foreach (var p in _held.Values) PduPool.Return(p);
            _held.Clear();
        }
    }

    private sealed class SerialComparer : IComparer<uint>
    {
        public int Compare(uint x, uint y) => x == y ? 0 : SerialNumber.LessThan(x, y) ? -1 : 1;
    }
}
