using Iser.Core.Datamover;
using Iser.Core.Iscsi.Pdus;
using Iser.Core.Iscsi.Sessions;
using Microsoft.Extensions.Logging;

namespace Iser.Core.Iscsi.Target;

/// <summary>
/// One connection at the target: runs the login, then the full feature phase loop that dispatches PDUs in CmdSN
/// order, and stamps StatSN/ExpCmdSN/MaxCmdSN into every PDU in wire order (<see cref="IDatamoverHost"/>).
/// </summary>
internal sealed partial class TargetConnection : IDatamoverHost
{
    private readonly IscsiTarget _target;
    private readonly ILogger _logger;
    private readonly ILogger _pduLogger;
    private readonly CancellationTokenSource _closing = new();
    private readonly TaskCompletionSource _finished = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TargetKeepAlive _keepAlive;
    private readonly TargetTaskManagement _taskManagement;
    private readonly TargetTextExchange _text;
    private uint _statSN;
    // ErrorRecoveryLevel 1 and up: what the connection keeps and resends (null at level 0 and in discovery).
    private TargetRecovery? _recovery;
    private long _lastReceiveTicks = Environment.TickCount64;
    private int _closed;
    private string? _closeReason;
    // Set when the connection is closed on purpose (logout, session reinstatement, reset, shutdown): its tasks end with
    // it. A connection that fails, or is replaced by a login into its session, hands them over at ERL 2 instead.
    private volatile bool _endsTasks;
    /// <summary>The Logout Response still to come (after the connection's tasks); the reader keeps the connection up for it.</summary>
    private Task? _logoutCompletion;
    // Set when a Logout of this connection was accepted, possibly on another connection's thread (CmdSN order).
    private volatile bool _logoutAccepted;
    // A Logout for recovery (reason 2) of this connection: it closes handing its tasks to the session (ERL 2).
    private volatile bool _forRecovery;

    public TargetConnection(IscsiTarget target, ITargetDatamover datamover, ushort portalGroupTag, ILoggerFactory loggerFactory)
    {
        _target = target;
        PortalGroupTag = portalGroupTag;
        Datamover = datamover;
        _logger = loggerFactory.CreateLogger("Iser.Target.Connection");
        _pduLogger = loggerFactory.CreateLogger("Iser.Target.Pdu");
        Tasks = new TargetTaskTable(this, target.Options.CommandQueueDepth * 2);
        _keepAlive = new TargetKeepAlive(this, _logger);
        _taskManagement = new TargetTaskManagement(this, target, _logger);
        _text = new TargetTextExchange(this, target, _logger);
    }

    public ITargetDatamover Datamover { get; }
    /// <summary>The portal group of the listener the connection arrived on.</summary>
    public ushort PortalGroupTag { get; }
    public Scsi.Target.Alua.AsymmetricAccessStates AccessStates => _target.AccessStates;
    public TargetSession? Session { get; private set; }
    /// <summary>The connection's ID within its session (from its login).</summary>
    public ushort Cid { get; private set; }
    /// <summary>What this connection's login settled: the session's values with this connection's own (digests, segment sizes).</summary>
    public Login.NegotiatedSession? Negotiated { get; private set; }
    public IscsiTargetOptions Options => _target.Options;
    /// <summary>Running tasks, by ITT.</summary>
    public TargetTaskTable Tasks { get; }
    public long LastReceiveTicks => Volatile.Read(ref _lastReceiveTicks);
    /// <summary>Logged in and not shut down.</summary>
    public bool IsLive => Volatile.Read(ref _closed) == 0;
    /// <summary>Completes once the connection has shut down (its tasks ended or handed to the session).</summary>
    public Task Finished => _finished.Task;
    /// <summary>ERL 1: tasks kept for a resend and the read data they hold; zeros at level 0.</summary>
    public (int Tasks, long Bytes) RetainedForRecovery => _recovery is { } r ? (r.RetainedTasks, r.RetainedBytes) : (0, 0);

    public async Task RunAsync(CancellationToken stopping)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(stopping, _closing.Token);
        string reason = "connection closed by initiator";
        Diagnostics.TargetMetrics.Connections.Add(1);
        try
        {
            if (!await LoginAsync(linked.Token).ConfigureAwait(false)) return;
            _ = _keepAlive.RunAsync(linked.Token);
            reason = await FullFeatureLoopAsync(linked.Token).ConfigureAwait(false);
        }
        // Closed from elsewhere (a cold reset, reinstatement): the read pending then may fail on the disposed socket instead.
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException && linked.IsCancellationRequested)
        {
            reason = _closeReason ?? "target stopping";
        }
        catch (PduFormatException e)
        {
            reason = e.Message;
            _logger.LogWarning("{Remote}: {Error}", Datamover.RemoteEndPoint, e.Message);
        }
        catch (DatamoverException e)
        {
            reason = e.Message;
            _logger.LogInformation("{Remote}: {Error}", Datamover.RemoteEndPoint, e.Message);
        }
        catch (Exception e)
        {
            reason = $"internal error: {e.Message}";
            _logger.LogError(e, "{Remote}: connection failed", Datamover.RemoteEndPoint);
        }
        finally
        {
            await ShutdownAsync(reason).ConfigureAwait(false);
            Diagnostics.TargetMetrics.Connections.Add(-1);
        }
    }

    /// <summary>Closes the connection from outside (reinstatement, reset, shutdown).</summary>
    /// <param name="handOverTasks">ERL 2: the connection is being replaced or found dead, so its tasks wait for
    /// TASK REASSIGN on another; otherwise they end with it.</param>
    public async Task CloseAsync(string reason, bool handOverTasks = false)
    {
        if (!handOverTasks) _endsTasks = true;
        _closeReason ??= reason;
        try { _closing.Cancel(); } catch (ObjectDisposedException) { }
        await Datamover.TerminateAsync(reason).ConfigureAwait(false);
    }

    private async Task ShutdownAsync(string reason)
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0) return;
        try
        {
            try { _closing.Cancel(); } catch (ObjectDisposedException) { }
            var session = Session;
            // ERL 2: a connection that failed (not logged out, not stopped by the target) hands its tasks to the session.
            bool orphan = session is { RecoversConnections: true } && !_endsTasks && !_target.IsStopping;
            if (orphan) HandOverTasks(session!.Orphans!);
            else Tasks.CancelAll(Datamover.EndTask);
            int remaining = 0;
            if (session is not null)
            {
                var (dropped, drain) = session.Sequencer.RemoveConnection(session, this);
                remaining = session.RemoveConnection(this);
                if (dropped is not null)
                    foreach (var task in dropped) DiscardAccepted(task);
                if (drain) session.Sequencer.DrainAll(session);
            }
            // The nexus goes first when the session ends here: an initiator that dropped the connection and logged in
            // anew must not find what the old nexus held (a prevention, a RESERVE) while the socket winds down.
            bool sessionEnds = session is not null && remaining == 0 && !orphan;
            if (sessionEnds) _target.RemoveSession(session!);
            await Datamover.TerminateAsync(reason).ConfigureAwait(false);
            if (!orphan) _recovery?.Clear();
            if (session is null) return;
            if (remaining > 0)
            {
                _logger.LogInformation("Session {Session} lost connection {Cid} ({Reason}); {Remaining} remain{Tasks}", session.Describe(), Cid,
                    reason, remaining, orphan ? ", its tasks wait for TASK REASSIGN on another" : "");
            }
            else if (orphan)
            {
                _target.RetainSession(session);
                _logger.LogInformation("Session {Session} lost its connection ({Reason}); its tasks wait {Seconds} s for a new one",
                    session.Describe(), reason, session.Negotiated.DefaultTime2Retain);
            }
            else _logger.LogInformation("Session {Session} ended: {Reason}", session.Describe(), reason);
        }
        finally
        {
            _finished.TrySetResult();
        }
    }

    /// <summary>ERL 2: running tasks keep running, sent ones keep their data and status, all for TASK REASSIGN elsewhere.</summary>
    private void HandOverTasks(OrphanedTasks orphans)
    {
        string remote = Datamover.RemoteEndPoint;
        foreach (var task in Tasks.Where(_ => true))
        {
            orphans.Adopt(task, resultKnown: false, remote);
            Datamover.EndTask(task);
        }
        if (_recovery is { } recovery)
            foreach (var task in recovery.TakeAll())
                orphans.Adopt(task, resultKnown: true, remote);
    }

    /// <summary>
    /// The initiator closed the session's only connection (ERL below 2, so nothing waits for it to come back): its nexus
    /// goes now, on the thread that read the close, before the teardown. An initiator that drops its socket and logs in
    /// at once as a new nexus sends its first command about a millisecond later, and must not find what the old nexus
    /// held (a prevention, a RESERVE): libiscsi's PreventAllow.ITNexusLoss. <see cref="ShutdownAsync"/> releases it
    /// otherwise; the release happens once either way.
    /// </summary>
    private void ReleaseNexusAtPeerClose()
    {
        if (Session is { IsDiscovery: false, RecoversConnections: false } session && session.ConnectionCount == 1)
            _target.ReleaseNexus(session);
    }

    private async Task<string> FullFeatureLoopAsync(CancellationToken ct)
    {
        if (Session is { IsDiscovery: false } s && s.Negotiated.ErrorRecoveryLevel >= 1)
            _recovery = new TargetRecovery(this, Math.Max(16, Options.CommandQueueDepth * 2), _logger);
        while (true)
        {
            var pdu = await Datamover.ReceiveControlAsync(ct).ConfigureAwait(false);
            if (pdu is null)
            {
                ReleaseNexusAtPeerClose();
                return "connection closed by initiator";
            }
            Volatile.Write(ref _lastReceiveTicks, Environment.TickCount64);
            if (_pduLogger.IsEnabled(LogLevel.Trace)) _pduLogger.LogTrace("<- {Pdu}", pdu);
            // Every initiator PDU here carries ExpStatSN (Data-Out stays in the datamover): kept statuses below it are done.
            _recovery?.Acknowledge(pdu.Field28);
            if (!Dispatch(pdu))
            {
                // A Logout is answered once the connection's tasks have finished: returning now would tear the connection
                // down under them and under the Logout Response (seen with libiscsi's LogoutDuringIOAsync over iSER).
                if (_logoutCompletion is { } logout) await WaitForLogoutAsync(logout, ct).ConfigureAwait(false);
                return _closeReason ?? "logged out";
            }
        }
    }

    /// <summary>
    /// Keeps reading while an accepted Logout waits for the connection's tasks: their Data-Out still has to be received
    /// (over TCP it is taken in inside ReceiveControlAsync), and a peer that closes or breaks the connection ends the wait
    /// instead of holding the connection, its session and its tasks for the logout's 30 s. Other PDUs are dropped.
    /// </summary>
    private async Task WaitForLogoutAsync(Task logout, CancellationToken ct)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        while (!logout.IsCompleted)
        {
            var receive = Datamover.ReceiveControlAsync(stop.Token).AsTask();
            if (await Task.WhenAny(logout, receive).ConfigureAwait(false) == logout)
            {
                stop.Cancel();
                try { if (await receive.ConfigureAwait(false) is { } late) PduPool.Return(late); }
                catch (Exception) { } // the connection closes after the Logout Response anyway
                break;
            }
            Pdu? pdu;
            try { pdu = await receive.ConfigureAwait(false); }
            catch (Exception e) when (e is not OperationCanceledException) { pdu = null; _closeReason ??= e.Message; }
            catch (OperationCanceledException) { pdu = null; }
            if (pdu is null)
            {
                _closeReason ??= "connection closed by initiator during logout";
                try { _closing.Cancel(); } catch (ObjectDisposedException) { } // CompleteLogoutAsync stops waiting
                break;
            }
            _logger.LogDebug("{Remote}: {Opcode} after an accepted Logout dropped", Datamover.RemoteEndPoint, pdu.Opcode);
            PduPool.Return(pdu);
        }
        await logout.ConfigureAwait(false);
    }

    /// <summary>
    /// Orders non-immediate PDUs by CmdSN across the session's connections: the expected one runs (and any held ones it
    /// unblocks, each on its own connection), one ahead inside the window waits, one outside the window is silently
    /// ignored (RFC 7143 §4.2.2.1). A SCSI Command is accepted (checked, entered, its unsolicited data collected) the
    /// moment it arrives and started in its turn: its Data-Out may come before a command on another connection fills
    /// the gap ahead of it. Returns false when the connection should stop reading (logout accepted).
    /// </summary>
    private bool Dispatch(Pdu pdu)
    {
        var session = Session!;
        if (!CommandSequencer.IsOrdered(pdu))
        {
            if (pdu.Opcode != IscsiOpcode.ScsiCommand) return Handle(pdu, consumesSlot: false);
            if (AcceptScsiCommand(pdu, consumesSlot: false) is { } now) StartScsiCommand(now);
            PduPool.Return(pdu);
            return true;
        }
        if (pdu.Opcode == IscsiOpcode.ScsiCommand)
        {
            if (session.Check(pdu.Field24) == CmdSNCheck.OutsideWindow)
            {
                IgnoreOutsideWindow(session, pdu);
                return true;
            }
            if (AcceptScsiCommand(pdu, consumesSlot: true) is not { } task)
            {
                // Refused: its CmdSN still counts as received, so the commands behind it run.
                session.Sequencer.TryAbortPending(session, pdu.Field24);
                PduPool.Return(pdu);
                return true;
            }
            pdu.Context = task;
        }
        switch (session.Sequencer.Arrive(session, this, pdu))
        {
            case CommandSequencer.Arrival.RunNow:
                RunOrdered(pdu);
                session.Sequencer.DrainAll(session);
                break;
            case CommandSequencer.Arrival.Drain:
                session.Sequencer.DrainAll(session);
                break;
            case CommandSequencer.Arrival.Outside:
                IgnoreOutsideWindow(session, pdu);
                break;
            case CommandSequencer.Arrival.Duplicate:
                _logger.LogDebug("{Remote}: ignoring {Opcode} with CmdSN {CmdSN}: that CmdSN is already taken", Datamover.RemoteEndPoint, pdu.Opcode, pdu.Field24);
                if (pdu.Context is TargetTask accepted) DiscardAccepted(accepted);
                PduPool.Return(pdu);
                break;
        }
        return !_logoutAccepted;
    }

    private void IgnoreOutsideWindow(TargetSession session, Pdu pdu)
    {
        // Below ExpCmdSN at ERL 1 it may be a retry of a command this connection knows; otherwise ignored (§4.2.2.1).
        if (!(pdu.Opcode == IscsiOpcode.ScsiCommand && _recovery is { } recovery && recovery.TryHandleRetry(pdu)))
            _logger.LogDebug("{Remote}: ignoring {Opcode} with CmdSN {CmdSN} outside window [{Exp}, {Max}]",
                Datamover.RemoteEndPoint, pdu.Opcode, pdu.Field24, session.ExpCmdSN, session.MaxCmdSN);
        PduPool.Return(pdu);
    }

    /// <summary>A command accepted on arrival that will never start: it leaves the table and the datamover, unanswered
    /// (its CmdSN slot comes back through the sequencer's placeholder).</summary>
    private void DiscardAccepted(TargetTask task)
    {
        Tasks.TryClaim(task);
        Datamover.EndTask(task);
        FreeTask(task);
    }

    /// <summary>An ordered PDU of this connection, in its CmdSN turn (on whichever connection's thread drains the queue).</summary>
    internal void RunOrdered(Pdu pdu)
    {
        if (!Handle(pdu, consumesSlot: true)) _logoutAccepted = true;
    }

    private bool Handle(Pdu pdu, bool consumesSlot)
    {
        switch (pdu.Opcode)
        {
            case IscsiOpcode.ScsiCommand:
                // Accepted on arrival (Dispatch); an accepted command the sequencer dropped meanwhile never gets here.
                if (pdu.Context is TargetTask task) StartScsiCommand(task);
                PduPool.Return(pdu);
                return true;
            case IscsiOpcode.NopOut:
                _keepAlive.HandleNopOut(pdu);
                break;
            case IscsiOpcode.TaskManagementRequest:
                _ = _taskManagement.HandleAsync(pdu, consumesSlot);
                return true;
            case IscsiOpcode.TextRequest:
                _text.Handle(pdu);
                break;
            case IscsiOpcode.LogoutRequest:
                return HandleLogout(pdu, consumesSlot);
            case IscsiOpcode.SnackRequest:
                // At ErrorRecoveryLevel 0 SNACK is not supported (RFC 7143 §11.16).
                if (_recovery is { } recovery) recovery.HandleSnack(pdu);
                else SendReject(RejectReason.CommandNotSupported, pdu);
                break;
            case IscsiOpcode.DataOut:
                SendReject(RejectReason.ProtocolError, pdu);
                break;
            case IscsiOpcode.LoginRequest:
                // A login request in full feature phase is a protocol error (RFC 7143 §6.1).
                SendReject(RejectReason.ProtocolError, pdu);
                break;
            default:
                _logger.LogWarning("{Remote}: unknown opcode 0x{Opcode:x2}; rejecting", Datamover.RemoteEndPoint, (byte)pdu.Opcode);
                SendReject(RejectReason.CommandNotSupported, pdu);
                break;
        }
        if (consumesSlot) Session!.ReleaseSlot();
        PduPool.Return(pdu);
        return true;
    }

    /// <summary>Stamps sequence numbers in wire order (called by the datamover's writer).</summary>
    public void OnSending(Pdu pdu)
    {
        if (pdu.Retransmission) { /* keeps the StatSN it first went out with; only the window is current */ }
        else switch (pdu.Opcode)
        {
            case IscsiOpcode.ScsiResponse when pdu.SentNotification is TargetTask task:
                pdu.Field24 = task.StatSN = _statSN++;
                task.StatusStamped = true;
                break;
            case IscsiOpcode.ScsiResponse:
            case IscsiOpcode.TaskManagementResponse:
            case IscsiOpcode.TextResponse:
            case IscsiOpcode.LogoutResponse:
            case IscsiOpcode.Reject:
            case IscsiOpcode.AsyncMessage:
                pdu.Field24 = _statSN++;
                break;
            case IscsiOpcode.NopIn:
                // A NOP-In answering a NOP-Out takes a StatSN; a target ping does not (RFC 7143 §11.19).
                pdu.Field24 = pdu.InitiatorTaskTag != Pdu.ReservedTag ? _statSN++ : _statSN;
                break;
            case IscsiOpcode.DataIn when (pdu.Flags & 0x01) != 0:
                pdu.Field24 = _statSN++;
                if (pdu.SentNotification is TargetTask collapsed)
                {
                    collapsed.StatSN = pdu.Field24;
                    collapsed.StatusStamped = true;
                }
                break;
            case IscsiOpcode.DataIn:
                pdu.Field24 = 0;
                break;
            case IscsiOpcode.ReadyToTransfer:
                pdu.Field24 = _statSN;
                break;
        }
        var session = Session;
        if (session is not null)
        {
            pdu.Field28 = session.ExpCmdSN;
            pdu.Field32 = session.MaxCmdSN;
        }
        if (_pduLogger.IsEnabled(LogLevel.Trace)) _pduLogger.LogTrace("-> {Pdu}", pdu);
    }

    /// <summary>The StatSN the next status will take (a Status SNACK with RunLength 0 runs up to it).</summary>
    public uint NextStatSN => _statSN;

    public TargetTask? FindActiveTask(uint itt) => Tasks.Find(itt);

    public void Reject(RejectReason reason, Pdu offending) => Send(RejectPdu.Rent(reason, offending));

    private void SendReject(RejectReason reason, Pdu offending) => Reject(reason, offending);

    /// <summary>
    /// PREEMPT AND ABORT: aborts the tasks on <paramref name="lun"/> of every session of this node whose nexus
    /// <paramref name="whose"/> selects, but <paramref name="except"/>, and waits until they left the logical unit.
    /// </summary>
    public Task<int> AbortLunTasksAsync(ulong lun, Func<Scsi.Target.Reservations.ItNexus, bool> whose, TargetTask except) =>
        Session?.Node is { } node
            ? _target.AbortTasksAsync(node, whose, t => t.Lun == lun && !ReferenceEquals(t, except))
            : Task.FromResult(0);

    /// <summary>Aborts running tasks of this connection (TMF, resets) and waits until they left the logical unit.</summary>
    public Task<int> AbortAsync(TargetTask[] tasks) => Tasks.AbortAsync(tasks, Datamover);

    /// <summary>
    /// Sends a kept task's SCSI Response again with its first StatSN (ERL 1): as built, or rebuilt from the status that
    /// rode in its last Data-In; an R-Data SNACK's tag goes in the SNACK Tag field (RFC 7143 §11.4.2).
    /// </summary>
    public void ResendResponse(TargetTask task, uint? snackTag)
    {
        var pdu = task.BuildStoredResponse();
        if (snackTag is { } tag) pdu.Field20 = tag;
        pdu.Field24 = task.StatSN;
        pdu.Retransmission = true;
        Send(pdu);
    }

    /// <summary>A task nothing refers to any more (finished, or released from retention) goes back to the pool.</summary>
    public void FreeTask(TargetTask task)
    {
        task.ReturnLentBuffers();
        Tasks.Return(task);
    }

    /// <summary>Queues a PDU; transports queue synchronously, so the ValueTask is only observed, never blocked on.</summary>
    public void Send(Pdu pdu)
    {
        ValueTask pending;
        try
        {
            pending = Datamover.SendControlAsync(pdu);
        }
        catch (DatamoverException e)
        {
            _logger.LogDebug("{Remote}: {Opcode} not sent: {Error}", Datamover.RemoteEndPoint, pdu.Opcode, e.Message);
            return;
        }
        if (!pending.IsCompletedSuccessfully) _ = ObserveSendAsync(pending);
    }

    private async Task ObserveSendAsync(ValueTask pending)
    {
        try { await pending.ConfigureAwait(false); }
        catch (DatamoverException e) { _logger.LogDebug("{Remote}: send failed: {Error}", Datamover.RemoteEndPoint, e.Message); }
    }
}
