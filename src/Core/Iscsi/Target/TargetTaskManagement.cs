using Iser.Core.Iscsi.Pdus;
using Iser.Core.Iscsi.Sessions;
using Iser.Core.Scsi.Target;
using Microsoft.Extensions.Logging;

namespace Iser.Core.Iscsi.Target;

/// <summary>Task management functions on one target connection (RFC 7143 §11.5): abort, clear, resets; answered in order.</summary>
internal sealed class TargetTaskManagement(TargetConnection connection, IscsiTarget target, ILogger logger)
{
    private readonly TargetConnection _connection = connection;
    private readonly IscsiTarget _target = target;
    private readonly ILogger _logger = logger;

    public async Task HandleAsync(Pdu pdu, bool consumesSlot)
    {
        var session = _connection.Session!;
        byte function = (byte)(pdu.Flags & 0x7f);
        uint itt = pdu.InitiatorTaskTag, referenced = pdu.Field20, refCmdSN = pdu.Field32;
        ulong lun = pdu.Lun;
        uint tmfCmdSN = pdu.Field24;
        PduPool.Return(pdu);
        byte response;
        TargetTask? reassigned = null;
        try
        {
            if (function == 8) (response, reassigned) = Reassign(session, referenced);
            else response = await ExecuteTaskManagementAsync(session, function, lun, referenced, refCmdSN, tmfCmdSN).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            _logger.LogError(e, "{Remote}: task management function {Function} failed", _connection.Datamover.RemoteEndPoint, function);
            response = 255; // Function rejected
        }
        var reply = PduPool.Rent();
        reply.Opcode = IscsiOpcode.TaskManagementResponse;
        reply.Flags = 0x80;
        reply.Bhs[2] = response;
        reply.InitiatorTaskTag = itt;
        // TARGET COLD RESET: every connection to the node goes the moment the response is on the wire (RFC 7143 §11.5.1),
        // and with them the nexuses and what they held.
        if (function == 7 && response == 0) reply.SentNotification = new CloseNodeAfterSend(_target, session.Node!);
        _connection.Send(reply);
        if (consumesSlot) session.ReleaseSlot();
        if (reassigned is not null) await ContinueReassignedAsync(reassigned).ConfigureAwait(false);
    }

    /// <summary>
    /// TASK REASSIGN (RFC 7143 §11.5.1, ERL 2): the task of a failed connection, named by its ITT, becomes allegiant to
    /// this one. Response 0 when taken over, 1 when the session holds no such task, 3 when it is still allegiant to a
    /// connection in the session, 4 below ERL 2.
    /// </summary>
    private (byte Response, TargetTask? Task) Reassign(TargetSession session, uint referenced)
    {
        if (session.Orphans is not { } orphans) return (4, null); // task allegiance reassignment not supported
        var task = orphans.Take(referenced, _connection);
        if (task is null)
        {
            // Its connection is still in the session: the initiator must log it out (or reinstate it) first.
            if (session.FindTask(referenced) is { Connection: { } owner } && !ReferenceEquals(owner, _connection)) return (3, null);
            return (1, null);
        }
        _logger.LogInformation("{Remote}: task 0x{Itt:x8} reassigned to this connection", _connection.Datamover.RemoteEndPoint, referenced);
        return (0, task);
    }

    /// <summary>After the TMF response: what the taken-over task had ready goes out here.</summary>
    private async Task ContinueReassignedAsync(TargetTask task)
    {
        if (task.PendingResult is { } result)
        {
            task.PendingResult = null;
            _connection.Tasks.TryAdd(task);
            await _connection.RespondWithAsync(task, result).ConfigureAwait(false);
        }
        else if (task.OrphanedResultKnown)
        {
            task.OrphanedResultKnown = false;
            await _connection.SendAgainAfterReassignAsync(task).ConfigureAwait(false);
        }
        // Otherwise it still runs; its data and status come here (a write waiting for data is asked for it here).
    }

    /// <summary>RFC 7143 §11.5: returns the TMF response code.</summary>
    private async Task<byte> ExecuteTaskManagementAsync(TargetSession session, byte function, ulong lun, uint referenced, uint refCmdSN, uint tmfCmdSN)
    {
        var node = session.Node;
        if (node is null) return 255;
        switch (function)
        {
            case 1: // ABORT TASK
            {
                // On whichever connection of the session it is allegiant to (MC/S).
                var task = session.FindTask(referenced);
                if (task is null)
                {
                    // Not received yet but inside the window: it counts as received and will be ignored (§11.5.1 a).
                    bool pending = SerialNumber.InWindow(refCmdSN, session.ExpCmdSN, session.MaxCmdSN)
                                   && session.Sequencer.TryAbortPending(session, refCmdSN);
                    return pending ? (byte)0 : (byte)1; // Function complete / Task does not exist
                }
                // Zero means its response won the race: to the initiator the task no longer exists.
                return await task.Connection!.AbortAsync([task]).ConfigureAwait(false) == 1 ? (byte)0 : (byte)1;
            }
            case 2: // ABORT TASK SET: this I_T nexus's tasks on the LUN (SAM-5 §7.3)
            {
                if (node.FindLun(lun) is null) return 2; // LUN does not exist
                foreach (var c in session.Connections)
                    await c.AbortAsync(c.Tasks.Where(t => t.Lun == lun)).ConfigureAwait(false);
                return 0;
            }
            case 3: // CLEAR ACA: we never establish ACA (NACA is not supported)
                return node.FindLun(lun) is null ? (byte)2 : (byte)0;
            case 4: // CLEAR TASK SET: every task on the LUN, from every initiator (SAM-5 §7.5)
            {
                if (node.FindLun(lun) is not { } unit) return 2;
                foreach (var c in _target.ConnectionsOf(node).ToArray())
                {
                    int cleared = await c.AbortAsync(c.Tasks.Where(t => t.Lun == lun)).ConfigureAwait(false);
                    // Another initiator's tasks were cleared: it is told on its next command (TAS 0: no TASK ABORTED status).
                    if (cleared > 0 && c.Session is { Nexus: { } other } && !ReferenceEquals(c.Session, session))
                        unit.OnTasksClearedByAnotherInitiator(other);
                }
                return 0;
            }
            case 5: // LOGICAL UNIT RESET
            {
                var unit = node.FindLun(lun);
                if (unit is null) return 2;
                foreach (var c in _target.ConnectionsOf(node).ToArray())
                    await c.AbortAsync(c.Tasks.Where(t => t.Lun == lun)).ConfigureAwait(false);
                unit.Reset(LogicalUnitResetKind.LogicalUnitReset);
                return 0;
            }
            case 6: // TARGET WARM RESET
            case 7: // TARGET COLD RESET
            {
                foreach (var c in _target.ConnectionsOf(node).ToArray())
                    await c.AbortAsync(c.Tasks.Where(_ => true)).ConfigureAwait(false);
                foreach (var unit in node.Luns.Values)
                    unit.Reset(function == 6 ? LogicalUnitResetKind.TargetWarmReset : LogicalUnitResetKind.TargetColdReset);
                return 0;
            }
            case 8: // TASK REASSIGN: handled by Reassign
                return 4;
            default:
                return 5; // Task management function not supported
        }
    }

    private sealed class CloseNodeAfterSend(IscsiTarget target, TargetNode node) : IPduSentNotification
    {
        public void OnPduSent(Pdu pdu, Exception? error)
        {
            foreach (var c in target.ConnectionsOf(node).ToArray()) _ = c.CloseAsync("target cold reset");
        }
    }
}
