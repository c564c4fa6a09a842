using Iser.Core.Iscsi.Pdus;
using Iser.Core.Iscsi.Sessions;
using Microsoft.Extensions.Logging;

namespace Iser.Core.Iscsi.Target;

/// <summary>
/// ErrorRecoveryLevel 1 on one target connection (RFC 7143 §6.1, §7.1, §11.16): keeps each finished task until its
/// status is acknowledged (<see cref="TaskRetention"/>), answers every SNACK type from what it kept, and recognises a
/// retried command (same ITT and CmdSN, below ExpCmdSN) so the logical unit never runs it twice: a finished one is
/// answered again from retention, a running write is asked again for the data it still lacks.
/// </summary>
internal sealed class TargetRecovery(TargetConnection connection, int capacity, ILogger logger)
{
    private readonly TaskRetention _retention = new(capacity);
    private readonly List<TargetTask> _released = new();
    // Tasks between their claim for a response and the send of their status: their Data-In may already be SNACKed.
    private readonly Dictionary<uint, TargetTask> _responding = new();

    /// <summary>Tasks kept for a possible resend, and the read data they hold (bench and metrics).</summary>
    public int RetainedTasks => _retention.Count;
    public long RetainedBytes => _retention.BytesHeld;

    /// <summary>The task starts sending its data and status (it left the table TMFs consult).</summary>
    public void Responding(TargetTask task)
    {
        lock (_responding) _responding[task.InitiatorTaskTag] = task;
    }

    /// <summary>The status of <paramref name="task"/> is out: keep it until acknowledged. False: free it now.</summary>
    public bool TryRetain(TargetTask task)
    {
        lock (_responding)
        {
            if (_responding.TryGetValue(task.InitiatorTaskTag, out var t) && ReferenceEquals(t, task)) _responding.Remove(task.InitiatorTaskTag);
        }
        if (!task.StatusStamped || task.Aborted) return false;
        if (connection.Datamover.PlacesDataDirectly)
        {
            // RDMA placement is never resent (RFC 7145): only the status is kept, and the registered buffer the
            // datamover lent for the read data goes back now rather than at the acknowledgement.
            task.DataInSent = 0;
            task.ReturnLentBuffers();
        }
        task.ReleaseWriteBuffer();
        lock (_released)
        {
            _released.Clear();
            _retention.Retain(task, _released);
            FreeReleasedLocked();
        }
        return true;
    }

    /// <summary>ExpStatSN from any initiator PDU: everything below it is acknowledged.</summary>
    public void Acknowledge(uint expStatSN)
    {
        lock (_released)
        {
            _released.Clear();
            _retention.Acknowledge(expStatSN, _released);
            FreeReleasedLocked();
        }
    }

    /// <summary>A new command names <paramref name="itt"/>: the task that had it before is over.</summary>
    public void Supersede(uint itt)
    {
        if (_retention.Supersede(itt) is { } old) connection.FreeTask(old);
    }

    /// <summary>ERL 2, the connection failed: every task whose status went (or was going) out, for the session to hold.</summary>
    public List<TargetTask> TakeAll()
    {
        var all = _retention.Clear();
        lock (_responding)
        {
            all.AddRange(_responding.Values);
            _responding.Clear();
        }
        return all;
    }

    public void Clear()
    {
        lock (_responding) _responding.Clear();
        foreach (var task in _retention.Clear()) connection.FreeTask(task);
    }

    private void FreeReleasedLocked()
    {
        foreach (var task in _released) connection.FreeTask(task);
        _released.Clear();
    }

    /// <summary>
    /// A non-immediate SCSI Command below ExpCmdSN: a retry when its ITT and CmdSN name a task this connection knows.
    /// True when handled (answered again, or data asked again, or left to the running task); false when it is not a
    /// retry and is to be ignored as a duplicate outside the window.
    /// </summary>
    public bool TryHandleRetry(Pdu command)
    {
        uint itt = command.InitiatorTaskTag, cmdSN = command.Field24;
        if (connection.FindActiveTask(itt) is { } running)
        {
            if (running.CmdSN != cmdSN) return false;
            bool asked = connection.Datamover.RecoverDataOut(running);
            logger.LogInformation("{Remote}: retried command 0x{Itt:x8} (CmdSN {CmdSN}) is still running{Action}", connection.Datamover.RemoteEndPoint,
                itt, cmdSN, asked ? "; its missing write data was asked for again" : "; its status will follow");
            return true;
        }
        if (FindSent(itt) is not { } done || done.CmdSN != cmdSN) return false;
        if (!done.StatusStamped)
        {
            logger.LogInformation("{Remote}: retried command 0x{Itt:x8} (CmdSN {CmdSN}) is sending its status now", connection.Datamover.RemoteEndPoint, itt, cmdSN);
            return true;
        }
        logger.LogInformation("{Remote}: retried command 0x{Itt:x8} (CmdSN {CmdSN}) already ran; sending its data and status again (StatSN {StatSN})",
            connection.Datamover.RemoteEndPoint, itt, cmdSN, done.StatSN);
        ResendAll(done, snackTag: null);
        return true;
    }

    /// <summary>SNACK Request (RFC 7143 §11.16): Data/R2T, Status, DataACK or R-Data, answered from what was kept.</summary>
    public void HandleSnack(Pdu snack)
    {
        var type = (SnackType)(snack.Flags & 0x0f);
        uint itt = snack.InitiatorTaskTag, begRun = snack.Field40, runLength = snack.Field44;
        string? problem = type switch
        {
            SnackType.DataR2T => DataOrR2TSnack(itt, begRun, runLength),
            SnackType.Status => StatusSnack(begRun, runLength),
            SnackType.DataAck => DataAck(itt, snack.Field20, begRun),
            SnackType.RData => RDataSnack(itt, snack.Field20),
            _ => $"SNACK type {(int)type} is not defined",
        };
        if (problem is null) return;
        logger.LogWarning("{Remote}: rejecting {Type} SNACK (ITT 0x{Itt:x8}, BegRun {BegRun}, RunLength {RunLength}): {Problem}",
            connection.Datamover.RemoteEndPoint, type, itt, begRun, runLength, problem);
        connection.Reject(type == SnackType.DataAck ? RejectReason.InvalidDataAck : RejectReason.ProtocolError, snack);
    }

    private string? DataOrR2TSnack(uint itt, uint begRun, uint runLength)
    {
        if (connection.FindActiveTask(itt) is { } running)
        {
            // A running task: the initiator missed an R2T (reads are never SNACKed before their status is out). The R2Ts
            // of the run go again as first sent (RFC 7143 §11.16.1: replicas but for the window fields).
            if (running.IsWrite && connection.Datamover.ResendR2T(running, begRun, runLength) > 0) return null;
            return $"the task is running and has no outstanding R2T numbered from {begRun}";
        }
        if (FindSent(itt) is not { } task) return "no task with this tag is kept (unknown, or its status was acknowledged)";
        if (!task.IsRead || task.DataInSent == 0) return "the task sent no Data-In";
        // BegRun 0 with RunLength 0: every Data-In not yet acknowledged (RFC 7143 §11.16.3).
        if (begRun == 0 && runLength == 0) begRun = task.DataAckedBelow;
        if (SerialNumber.LessThan(begRun, task.DataAckedBelow)) return $"Data-In below DataSN {task.DataAckedBelow} was acknowledged";
        int sent = ResendData(task, begRun, runLength, withStatus: task.StatusInDataIn);
        return sent switch
        {
            < 0 => "this transport does not resend data (RDMA placement)",
            0 => $"the task sent no Data-In numbered from {begRun}",
            _ => null,
        };
    }

    /// <summary>A task whose data went out: kept after its status, or still sending it.</summary>
    private TargetTask? FindSent(uint itt)
    {
        if (_retention.Find(itt) is { } kept) return kept;
        lock (_responding) return _responding.GetValueOrDefault(itt);
    }

    private string? StatusSnack(uint begRun, uint runLength)
    {
        // BegRun 0 with RunLength 0: every status not yet acknowledged (RFC 7143 §11.16.3), whatever the StatSN's value.
        var tasks = begRun == 0 && runLength == 0 ? _retention.All() : null;
        uint end = runLength == 0 ? connection.NextStatSN : begRun + runLength;
        tasks ??= _retention.WithStatusIn(begRun, end);
        if (tasks.Count == 0) return $"no kept status has a StatSN in [{begRun}, {end})";
        foreach (var task in tasks) ResendStatus(task);
        return null;
    }

    /// <summary>
    /// DataACK: the initiator names the task by the transfer tag of the Data-In that asked (its ITT field is reserved,
    /// RFC 7143 §11.16); an ITT is accepted too.
    /// </summary>
    private string? DataAck(uint itt, uint transferTag, uint begRun)
    {
        var task = itt != Pdu.ReservedTag ? FindSent(itt) : FindByAckTag(transferTag);
        if (task is null) return null; // acknowledged already; nothing to free
        if (SerialNumber.GreaterThan(begRun, task.NextDataSN)) return $"it acknowledges DataSN {begRun} but only {task.NextDataSN} Data-In were sent";
        if (SerialNumber.GreaterThan(begRun, task.DataAckedBelow)) task.DataAckedBelow = begRun;
        return null;
    }

    private TargetTask? FindByAckTag(uint transferTag)
    {
        foreach (var task in _retention.All())
            if (OwnsAckTag(task, transferTag)) return task;
        lock (_responding)
            foreach (var task in _responding.Values)
                if (OwnsAckTag(task, transferTag)) return task;
        return null;
    }

    private static bool OwnsAckTag(TargetTask task, uint tag) => task.DataAckTagCount > 0 && tag - task.DataAckTagBase < (uint)task.DataAckTagCount;

    private string? RDataSnack(uint itt, uint snackTag)
    {
        if (FindSent(itt) is not { StatusStamped: true } task) return "no task with this tag is kept (unknown, or its status was acknowledged)";
        ResendAll(task, snackTag);
        return null;
    }

    /// <summary>Everything the task sent: its Data-In and its status (for R-Data, a SCSI Response carrying the SNACK Tag).</summary>
    private void ResendAll(TargetTask task, uint? snackTag)
    {
        bool statusWithData = task.StatusInDataIn && snackTag is null;
        if (task.IsRead && task.DataInSent > 0 && ResendData(task, task.DataAckedBelow, 0, statusWithData) > 0 && statusWithData) return;
        connection.ResendResponse(task, snackTag);
    }

    private int ResendData(TargetTask task, uint begRun, uint runLength, bool withStatus) =>
        connection.Datamover.ResendDataIn(task, task.DataInBuffer(task.DataInSent), begRun, runLength,
            withStatus ? task.Collapsed : null, task.StatSN);

    private void ResendStatus(TargetTask task)
    {
        if (task.StatusInDataIn)
        {
            // The status rode in the last Data-In: that PDU is what goes again.
            uint last = task.NextDataSN - 1;
            if (ResendData(task, last, 1, withStatus: true) > 0) return;
        }
        connection.ResendResponse(task, snackTag: null);
    }
}
