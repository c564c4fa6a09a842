using System.Buffers.Binary;
using Iser.Core.Datamover;
using Iser.Core.Iscsi.Pdus;
using Iser.Core.Scsi;
using Iser.Core.Scsi.Target;
using Microsoft.Extensions.Logging;

namespace Iser.Core.Iscsi.Target;

internal sealed partial class TargetConnection
{
    /// <summary>
    /// Accepts a SCSI Command PDU on arrival: checks it, enters the task and registers it with the datamover (which
    /// starts collecting its immediate and unsolicited data). Null when refused: a Reject went out, and a slot the
    /// command took is for the caller to give back (its CmdSN placeholder does that for ordered commands). The caller
    /// keeps the PDU.
    /// </summary>
    private TargetTask? AcceptScsiCommand(Pdu pdu, bool consumesSlot)
    {
        var session = Session!;
        if (session.IsDiscovery)
        {
            // A discovery session carries only Text and Logout (RFC 7143 §4.3).
            SendReject(RejectReason.ProtocolError, pdu);
            return null;
        }
        var parameters = Negotiated!.Connection;
        byte flags = pdu.Flags;
        bool read = (flags & 0x40) != 0, write = (flags & 0x20) != 0;
        int edtl = (int)Math.Min(pdu.Field20, int.MaxValue);
        int immediate = pdu.Data.Length;
        string? problem = null;
        if (immediate > 0 && !write) problem = "immediate data on a command without the W bit";
        else if (immediate > 0 && !parameters.ImmediateData) problem = "immediate data although ImmediateData=No was negotiated";
        else if (immediate > edtl) problem = $"{immediate} bytes of immediate data exceed the Expected Data Transfer Length {edtl}";
        else if (immediate > parameters.FirstBurstLength) problem = $"{immediate} bytes of immediate data exceed FirstBurstLength {parameters.FirstBurstLength}";
        if (problem is not null)
        {
            _logger.LogWarning("{Remote}: rejecting SCSI Command ITT 0x{Itt:x8}: {Problem}", Datamover.RemoteEndPoint, pdu.InitiatorTaskTag, problem);
            SendReject(RejectReason.ProtocolError, pdu);
            return null;
        }
        _recovery?.Supersede(pdu.InitiatorTaskTag);
        var task = Tasks.Rent();
        task.InitiatorTaskTag = pdu.InitiatorTaskTag;
        task.Lun = pdu.Lun;
        task.CmdSN = pdu.Field24;
        task.IsRead = read;
        task.IsWrite = write;
        task.ExpectedDataTransferLength = edtl;
        task.ConsumesSlot = consumesSlot;
        if (!ParseAhs(pdu, task, out problem))
        {
            _logger.LogWarning("{Remote}: rejecting SCSI Command ITT 0x{Itt:x8}: {Problem}", Datamover.RemoteEndPoint, pdu.InitiatorTaskTag, problem);
            SendReject(RejectReason.InvalidPduField, pdu);
            Tasks.Return(task);
            return null;
        }
        // An ITT names one task in the whole session (RFC 7143 §10.2.1.8), whichever connection carries it.
        if (session.ConnectionCount > 1 && session.FindTask(task.InitiatorTaskTag) is not null) problem = "its Initiator Task Tag is already in use";
        else if (!Tasks.TryAdd(task)) problem = "its Initiator Task Tag is already in use";
        if (problem is not null)
        {
            _logger.LogWarning("{Remote}: rejecting SCSI Command ITT 0x{Itt:x8}: {Problem}", Datamover.RemoteEndPoint, pdu.InitiatorTaskTag, problem);
            SendReject(RejectReason.TaskInProgress, pdu);
            Tasks.Return(task);
            return null;
        }
        task.Unit = session.Node!.FindLun(task.Lun);
        if (!IsTooLarge(task)) task.AllocateWriteBuffer();
        Datamover.BeginTask(task, pdu, task.WriteBuffer);
        task.DataConnection = this;
        return task;
    }

    private bool IsTooLarge(TargetTask task) =>
        task.ExpectedDataOutLength > Options.MaxTransferLength || task.ExpectedDataInLength > Options.MaxTransferLength;

    /// <summary>Starts an accepted command in its CmdSN turn (immediate commands at once).</summary>
    private void StartScsiCommand(TargetTask task)
    {
        task.Started = true;
        _ = ExecuteAsync(task, IsTooLarge(task));
    }

    internal static bool ParseAhs(Pdu pdu, TargetTask task, out string? problem)
    {
        problem = null;
        ReadOnlySpan<byte> extended = default;
        var ahs = pdu.Ahs.Span;
        while (ahs.Length >= 4)
        {
            int length = BinaryPrimitives.ReadUInt16BigEndian(ahs);
            byte type = ahs[2];
            int total = (length + 3 + 3) & ~3; // length counts from the byte after the type field
            if (length + 3 > ahs.Length) { problem = "an AHS runs past TotalAHSLength"; return false; }
            // AHSLength counts the AHS-specific byte after the type, so 0 is malformed (and would slice backwards).
            if (length == 0) { problem = "an AHS with AHSLength 0, too short for its AHS-specific byte"; return false; }
            var body = ahs.Slice(4, length - 1);
            switch (type)
            {
                case 1: extended = body; break; // Extended CDB (RFC 7143 §11.3.3)
                case 2:
                    if (body.Length < 4) { problem = "a Bidirectional Read AHS shorter than 4 bytes"; return false; }
                    task.ExpectedBidiReadLength = (int)Math.Min(BinaryPrimitives.ReadUInt32BigEndian(body), int.MaxValue);
                    break;
                default: problem = $"an AHS of unknown type {type}"; return false;
            }
            ahs = ahs[Math.Min(total, ahs.Length)..];
        }
        if (extended.Length > 244) { problem = "an extended CDB longer than 260 bytes"; return false; }
        task.SetCdb(pdu.Bhs.AsSpan(32, 16), extended);
        if (extended.IsEmpty) task.TrimCdbToGroupLength();
        return true;
    }

    private async ValueTask ExecuteAsync(TargetTask task, bool tooLarge)
    {
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        Diagnostics.TargetMetrics.InFlight.Add(1);
        try
        {
            ScsiCommandResult result;
            try
            {
                if (tooLarge)
                    result = CheckCondition(SenseKey.IllegalRequest, 0x24, 0x00);
                else if (task.Unit is { } unit)
                    result = await unit.ExecuteAsync(task, task.CancellationToken).ConfigureAwait(false);
                else
                    result = MissingLun(task);
            }
            catch (DataOutOverflowException)
            {
                // SPDTL > EDTL on a write: refuse rather than write a truncated block (libiscsi accepts either).
                result = CheckCondition(SenseKey.IllegalRequest, 0x0e, 0x03);
                result = result with { DataOutLength = task.ExpectedDataOutLength + task.DataOutOverflow };
            }
            catch (Exception) when (task.Aborted)
            {
                FinishAborted(task);
                return;
            }
            catch (DataDigestException)
            {
                result = CheckCondition(SenseKey.AbortedCommand, 0x47, 0x05); // PROTOCOL SERVICE CRC ERROR
            }
            catch (DataTransferRefusedException e)
            {
                result = RefusedTransfer(task, e);
            }
            catch (DatamoverException e)
            {
                _logger.LogDebug("{Remote}: task 0x{Itt:x8} lost its connection: {Error}", Datamover.RemoteEndPoint, task.InitiatorTaskTag, e.Message);
                FinishAborted(task);
                return;
            }
            catch (Exception e)
            {
                _logger.LogError(e, "{Remote}: task 0x{Itt:x8} (opcode 0x{Op:x2}) failed inside the logical unit", Datamover.RemoteEndPoint, task.InitiatorTaskTag, task.Cdb.Span[0]);
                result = CheckCondition(SenseKey.HardwareError, 0x44, 0x00); // INTERNAL TARGET FAILURE
            }
            if (task.Aborted)
            {
                FinishAborted(task);
                return;
            }
            Diagnostics.TargetMetrics.CommandEnded(task.Cdb.Span[0], LunAddressing.TryDecode(task.Lun, out int lun) ? lun : -1, started,
                result.DataInLength, result.DataOutLength);
            // ERL 2: a task whose connection failed while it ran keeps its result for the connection that takes it over.
            if (Session?.Orphans is { } orphans && orphans.TryPark(task, result)) return;
            await (task.Connection ?? this).RespondWithAsync(task, result).ConfigureAwait(false);
        }
        finally
        {
            Diagnostics.TargetMetrics.InFlight.Add(-1);
        }
    }

    /// <summary>Sends the task's data and status here; a connection failing under it hands the task over (ERL 2) or ends it.</summary>
    internal async ValueTask RespondWithAsync(TargetTask task, ScsiCommandResult result)
    {
        uint itt = task.InitiatorTaskTag;
        int generation = task.Generation;
        try
        {
            await RespondAsync(task, result).ConfigureAwait(false);
        }
        catch (DatamoverException e)
        {
            _logger.LogDebug("{Remote}: response for 0x{Itt:x8} not sent: {Error}", Datamover.RemoteEndPoint, itt, e.Message);
            if (task.Generation != generation) return;
            if (HandsOverTasks(out var orphans))
            {
                // The connection's shutdown may have handed the task over as still running while this response was
                // going out: it is told the response is lost, or, already taken over, the new connection sends it.
                if (orphans.ResponseLost(task, this, out var next))
                {
                    if (next is not null) await next.SendAgainAfterReassignAsync(task).ConfigureAwait(false);
                    return;
                }
                if (task.Orphaned) return;
                orphans.Adopt(task, resultKnown: true, Datamover.RemoteEndPoint);
                return;
            }
            // The failed send may already have ended the task through its final PDU's notification.
            if (task.Orphaned) return;
            FinishAborted(task);
        }
    }

    /// <summary>ERL 2 and the connection failing rather than being closed on purpose: its tasks go to the session.</summary>
    private bool HandsOverTasks(out OrphanedTasks orphans)
    {
        orphans = Session?.Orphans!;
        return orphans is not null && !_endsTasks && !_target.IsStopping;
    }

    /// <summary>
    /// The PDU that ends a task (its status) was written, or could not be: a failed send on a connection that hands its
    /// tasks over (ERL 2) keeps the task, data and status, for TASK REASSIGN; anything else finishes it.
    /// </summary>
    public void OnFinalPduSent(TargetTask task, Exception? error)
    {
        if (error is not null && HandsOverTasks(out var orphans))
        {
            // Handed over as still running while its response went out: the response is lost, its reassignment sends
            // it again. Taken over already: the new connection sends it again.
            if (orphans.ResponseLost(task, this, out var next))
            {
                if (next is not null) _ = next.SendAgainAfterReassignAsync(task);
                return;
            }
            if (ReferenceEquals(task.Connection, this) && !task.Orphaned)
            {
                orphans.Adopt(task, resultKnown: true, Datamover.RemoteEndPoint);
                return;
            }
        }
        OnTaskFinished(task);
    }

    /// <summary>
    /// ERL 2, TASK REASSIGN of a task whose status already went out on the failed connection: its data and status go
    /// again here, as new PDUs of this connection (DataSN from 0, a StatSN of this connection).
    /// </summary>
    internal async Task SendAgainAfterReassignAsync(TargetTask task)
    {
        _recovery?.Responding(task);
        task.StatusStamped = false;
        task.NextDataSN = 0;
        try
        {
            if (task.IsRead && task.DataInSent > 0
                && await Datamover.PutDataAsync(task, task.DataInBuffer(task.DataInSent), 0, isLast: true,
                       task.StatusInDataIn ? task.Collapsed : null).ConfigureAwait(false))
                return;
            var pdu = task.BuildStoredResponse();
            pdu.SentNotification = task;
            Send(pdu);
        }
        catch (DatamoverException e)
        {
            _logger.LogDebug("{Remote}: reassigned task 0x{Itt:x8} not answered: {Error}", Datamover.RemoteEndPoint, task.InitiatorTaskTag, e.Message);
        }
    }

    /// <summary>
    /// Sends read data and status. Residuals compare what the command called for with the Expected Data Transfer
    /// Length (RFC 7143 §11.4.5). GOOD status with data rides in the last Data-In (phase collapse) where the
    /// datamover can; otherwise a SCSI Response follows.
    /// </summary>
    private async ValueTask RespondAsync(TargetTask task, ScsiCommandResult result)
    {
        int expectedIn = task.ExpectedDataInLength;
        int wanted;
        int expected;
        if (task.IsWrite && !task.IsRead) { wanted = result.DataOutLength; expected = task.ExpectedDataOutLength; }
        else if (task.IsRead) { wanted = result.DataInLength; expected = expectedIn; }
        else { wanted = Math.Max(result.DataInLength, result.DataOutLength); expected = 0; }
        bool overflow = wanted > expected, underflow = wanted < expected;
        uint residual = (uint)Math.Abs((long)expected - wanted);
        int send = Math.Min(result.DataInLength, expectedIn);
        bool hasSense = !result.Sense.IsEmpty;
        // Claim the task for its response: an ABORT TASK arriving from now on must see "task does not exist"
        // rather than abort a command whose status is already queued (libiscsi's AbortTaskSimpleAsync checks this).
        if (!Tasks.TryClaim(task))
        {
            FinishAborted(task);
            return;
        }
        _recovery?.Responding(task);
        if (send > 0)
        {
            CollapsedStatus? collapse = hasSense ? null : new CollapsedStatus((byte)result.Status, underflow, overflow, residual);
            try
            {
                task.DataInSent = send;
                if (collapse is { } c) task.Collapsed = c;
                // Recorded before the send: the final PDU may be written (and the task retained) before PutData returns.
                task.StatusInDataIn = collapse is not null;
                bool statusSent = await Datamover.PutDataAsync(task, task.DataInBuffer(send), 0, isLast: true, collapse).ConfigureAwait(false);
                if (statusSent) return;
                task.StatusInDataIn = false;
            }
            catch (DataTransferRefusedException e)
            {
                // No read data can reach the initiator: the command fails with a status, the connection stays.
                result = RefusedTransfer(task, e);
                hasSense = true;
                overflow = false;
                underflow = expected > 0;
                residual = (uint)expected;
            }
        }
        var pdu = PduPool.Rent();
        pdu.Opcode = IscsiOpcode.ScsiResponse;
        byte flags = 0x80;
        if (overflow) flags |= 0x04;
        if (underflow) flags |= 0x02;
        pdu.Flags = flags;
        pdu.Bhs[2] = 0x00; // Command Completed at Target
        pdu.Bhs[3] = (byte)result.Status;
        pdu.InitiatorTaskTag = task.InitiatorTaskTag;
        pdu.Field36 = task.IsRead ? task.NextDataSN : 0; // ExpDataSN: Data-In PDUs sent
        pdu.Field44 = overflow || underflow ? residual : 0;
        if (hasSense)
        {
            var data = pdu.AllocateData(2 + result.Sense.Length).Span;
            BinaryPrimitives.WriteUInt16BigEndian(data, (ushort)result.Sense.Length);
            result.Sense.Span.CopyTo(data[2..]);
            if (_recovery is not null) task.ResponseData = data.ToArray(); // kept to send again (sense is the rare path)
        }
        pdu.Bhs.CopyTo(task.ResponseBhs);
        pdu.SentNotification = task;
        Send(pdu);
    }

    /// <summary>Called once a task's final PDU left (or could not): the task's buffers and CmdSN slot are free again.</summary>
    public void OnTaskFinished(TargetTask task)
    {
        // ERL 2: a task handed to the session belongs to it (its failed send ends here); the connection that takes it
        // over finishes it.
        if (task.Orphaned) return;
        if (!ReferenceEquals(task.Connection, this) && task.Connection is { } owner)
        {
            owner.OnTaskFinished(task);
            return;
        }
        Tasks.TryClaim(task);
        Datamover.EndTask(task);
        if (task.ConsumesSlot)
        {
            task.ConsumesSlot = false; // once, though a reassigned task may finish twice (first send, then again)
            Session?.ReleaseSlot();
        }
        task.FinishedSignal?.TrySetResult();
        // ERL 1: kept, with its data and status, until the initiator acknowledges the status.
        if (IsLive && !task.OrphanExpired && _recovery is { } recovery && recovery.TryRetain(task)) return;
        FreeTask(task);
    }

    private void FinishAborted(TargetTask task) => OnTaskFinished(task);

    /// <summary>SAM-5 answers for a LUN the target does not have: INQUIRY says "no device here", REPORT LUNS works.</summary>
    private ScsiCommandResult MissingLun(TargetTask task)
    {
        byte opcode = task.Cdb.Span[0];
        if (opcode == 0x12 && (task.Cdb.Span[1] & 1) == 0)
        {
            int alloc = BinaryPrimitives.ReadUInt16BigEndian(task.Cdb.Span[3..]);
            var buf = task.GetDataInBuffer(36).Span;
            buf.Clear();
            buf[0] = 0x7f; // peripheral qualifier 011b: no logical unit at this LUN
            buf[2] = 0x06;
            buf[3] = 0x02;
            buf[4] = 31;
            return ScsiCommandResult.Good(dataInLength: Math.Min(36, alloc));
        }
        return CheckCondition(SenseKey.IllegalRequest, 0x25, 0x00); // LOGICAL UNIT NOT SUPPORTED
    }

    /// <summary>
    /// The transport could not move the task's data (the connection is sound): logged with its reason and answered with
    /// ABORTED COMMAND, DATA PHASE ERROR (4Bh/00h).
    /// </summary>
    private ScsiCommandResult RefusedTransfer(TargetTask task, DataTransferRefusedException e)
    {
        _logger.LogWarning("{Remote}: task 0x{Itt:x8}: {Problem}", Datamover.RemoteEndPoint, task.InitiatorTaskTag, e.Message);
        return CheckCondition(SenseKey.AbortedCommand, 0x4b, 0x00);
    }

    private static ScsiCommandResult CheckCondition(SenseKey key, byte asc, byte ascq)
    {
        var sense = new byte[18];
        sense[0] = 0x70;
        sense[2] = (byte)key;
        sense[7] = 10;
        sense[12] = asc;
        sense[13] = ascq;
        return new ScsiCommandResult { Status = ScsiStatus.CheckCondition, Sense = sense };
    }
}
