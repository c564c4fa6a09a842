using Iser.Core.Iscsi.Login;
using Iser.Core.Iscsi.Pdus;
using Microsoft.Extensions.Logging;

namespace Iser.Core.Iscsi.Initiator;

public sealed partial class IscsiSession
{
    /// <summary>
    /// Makes <paramref name="connection"/> the session's lead and only connection (its first login, or a new login after
    /// the session was lost), starts its receive loop and re-issues what the previous connections left unanswered.
    /// </summary>
    private void Install(InitiatorConnection connection)
    {
        List<(InitiatorTask Task, int Generation)> reissue = new();
        List<InitiatorTask> aborted = new();
        TaskCompletionSource<InitiatorConnection> signal;
        lock (_gate)
        {
            _connection = connection;
            _connections.Clear();
            _connections.Add(connection);
            if (_state == IscsiSessionState.Recovering) _state = IscsiSessionState.LoggedIn;
            foreach (var task in _table.TasksLocked)
            {
                if (task.IsCompleted || task.Connection is null || ReferenceEquals(task.Connection, connection)) continue;
                if (task.Aborting != 0)
                {
                    aborted.Add(task);
                    continue;
                }
                task.Connection = connection; // claimed here, so a failing IssueAsync on the old connection leaves it alone
                reissue.Add((task, task.Generation));
            }
            foreach (var task in aborted) task.TryFail(new OperationCanceledException("The command was cancelled while the session recovered."));
            signal = _connected;
        }
        connection.Receiver = new ConnectionReceiver(this, connection);
        connection.Datamover.StartReceiving(connection.Receiver, _options.Completions.BusyPoll);
        signal.TrySetResult(connection);
        if (reissue.Count > 0) _logger.LogInformation("{Portal}: re-issuing {Count} unanswered command(s) on the new connection", Portal, reissue.Count);
        foreach (var (task, generation) in reissue) _ = ReissueAsync(connection, task, generation);
    }

    private async Task ReissueAsync(InitiatorConnection connection, InitiatorTask task, int generation)
    {
        try
        {
            await connection.AcquireSlotAsync(CancellationToken.None).ConfigureAwait(false);
            Pdu pdu;
            lock (_gate)
            {
                if (task.Generation != generation || task.IsCompleted || !ReferenceEquals(task.Connection, connection))
                {
                    connection.ReleaseUnusedSlot();
                    return;
                }
                task.SentTicks = Environment.TickCount64;
                pdu = BuildCommandPdu(task);
            }
            await connection.Datamover.SendCommandAsync(task, pdu, task.ReadBuffer, task.WriteBuffer, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // This connection failed too: hand the task back to the ordinary path, which waits for the next one.
            lock (_gate)
            {
                if (task.Generation != generation || task.IsCompleted) return;
                if (ReferenceEquals(task.Connection, connection)) task.Connection = null;
                else return;
            }
            _logger.LogDebug("Re-issue of 0x{Itt:x8} failed ({Error}); waiting for the next connection", task.InitiatorTaskTag, e.Message);
            try { await IssueAsync(task, generation, CancellationToken.None).ConfigureAwait(false); }
            catch (Exception again)
            {
                lock (_gate) { if (task.Generation == generation) task.TryFail(Wrap(again)); }
            }
        }
    }

    /// <summary>
    /// A connection broke (or was declared dead). At ErrorRecoveryLevel 2 the session survives it: another of its
    /// connections takes the commands over (MC/S), or a new connection logs into the session to do so. Below level 2 the
    /// session goes with any of its connections: without recovery every outstanding command fails now; with it the
    /// session logs in again with the same ISID (reinstatement) and holds its commands for up to ReplacementTimeout.
    /// </summary>
    internal async Task OnConnectionLostAsync(InitiatorConnection connection, Exception error)
    {
        string reason = error is OperationCanceledException ? "the session is closing" : error.Message;
        var lost = new IscsiConnectionException($"The connection to {TargetName ?? "discovery"} at {Portal} was lost: {reason}", error);
        if (!connection.MarkLost(lost)) return;
        _table.FailExchanges(connection, lost);
        bool member, recover, recoverConnection;
        InitiatorConnection? survivor = null;
        InitiatorConnection[] others = [];
        lock (_gate)
        {
            bool failed = _table.Failure is not null;
            member = _connections.Remove(connection) || ReferenceEquals(_connection, connection);
            bool active = member && !failed && !_loggingOut && !_closing.IsCancellationRequested;
            bool erl2 = active && Negotiated.ErrorRecoveryLevel >= 2 && _tsih != 0;
            if (erl2) survivor = _connections.Find(c => c.Failure is null);
            if (survivor is not null && ReferenceEquals(_connection, connection)) _connection = survivor;
            // ERL 2 and nothing left: a new connection logs into the session and takes the commands over.
            recoverConnection = erl2 && survivor is null;
            recover = active && survivor is null && _options.Reconnect.Enabled;
            if (active && !erl2)
            {
                others = [.. _connections];
                _connections.Clear();
            }
            if (member && !failed && survivor is null)
            {
                // A command may already have swapped in a fresh signal (WaitForConnectionAsync); its waiters need it.
                if (_connected.Task.IsCompleted) _connected = NewConnectedSignal();
                if (recover || recoverConnection) _state = IscsiSessionState.Recovering;
            }
        }
        await connection.Datamover.TerminateAsync(reason).ConfigureAwait(false);
        if (!member || _loggingOut || _closing.IsCancellationRequested) return;
        if (survivor is not null)
        {
            _logger.LogWarning("{Message}; its commands move to connection {Cid} of the session (ErrorRecoveryLevel 2)", lost.Message, survivor.Cid);
            await ReassignToSurvivorAsync(connection, survivor).ConfigureAwait(false);
            return;
        }
        if (recoverConnection)
        {
            _logger.LogWarning("{Message}; bringing a new connection into the session (ErrorRecoveryLevel 2)", lost.Message);
            if (await RecoverConnectionAsync(connection, reason).ConfigureAwait(false)) return;
        }
        // The session is lost with the connection. Its CmdSN window goes with it: commands waiting for room go back to
        // waiting for a connection; the other connections (MC/S) close too.
        connection.Window.Fail(lost);
        foreach (var other in others)
        {
            other.MarkLost(lost);
            _table.FailExchanges(other, lost);
            await other.Datamover.TerminateAsync($"another connection of the session was lost: {reason}").ConfigureAwait(false);
        }
        if (!recover)
        {
            _logger.LogWarning("{Message}", lost.Message);
            FailSession(lost, IscsiSessionState.Failed);
            return;
        }
        _logger.LogWarning("{Message}; logging in again (replacement timeout {Timeout} s)", lost.Message, _options.Reconnect.ReplacementTimeout.TotalSeconds);
        await RecoverAsync(reason).ConfigureAwait(false);
    }

    /// <summary>
    /// ERL 2 (RFC 7143 §6.2.2, §7.1.4): after DefaultTime2Wait, logs a new connection into this session (its TSIH,
    /// the CmdSN reached), which replaces the failed one, and reassigns every command that was sent on it. False
    /// when no connection could be brought in within DefaultTime2Retain or the target no longer knows the session;
    /// session recovery (a new session with the same ISID) is then left to try.
    /// </summary>
    private async Task<bool> RecoverConnectionAsync(InitiatorConnection failed, string reason)
    {
        var wait = TimeSpan.FromSeconds(Negotiated.DefaultTime2Wait);
        long deadline = Environment.TickCount64 + Negotiated.DefaultTime2Retain * 1000L;
        var delay = _options.Reconnect.InitialRetryDelay;
        try { await Task.Delay(wait, _closing.Token).ConfigureAwait(false); }
        catch (OperationCanceledException) { return true; }
        while (!_closing.IsCancellationRequested)
        {
            long remaining = deadline - Environment.TickCount64;
            if (remaining <= 0) break;
            try
            {
                using var attempt = CancellationTokenSource.CreateLinkedTokenSource(_closing.Token);
                attempt.CancelAfter(TimeSpan.FromMilliseconds(remaining));
                var resume = new SessionResume(_tsih, failed.Window, failed.ExpStatSN, Negotiated);
                var (connection, negotiated, _) = await _login.ConnectAsync(attempt.Token, resume, failed.Cid).ConfigureAwait(false);
                Interlocked.Increment(ref _connectionRecoveries);
                Diagnostics.InitiatorMetrics.ConnectionRecoveries.Add(1);
                Negotiated = negotiated;
                _logger.LogInformation("{Portal}: a new connection joined session {Target} (TSIH {Tsih}); reassigning its tasks", Portal, TargetName, _tsih);
                InstallReassigning(connection, failed);
                return true;
            }
            catch (IscsiLoginException e) when (e.Status == LoginStatus.SessionDoesNotExist)
            {
                _logger.LogWarning("{Portal}: the target no longer has the session ({Error}); its tasks are re-issued in a new one", Portal, e.Message);
                return false;
            }
            catch (Exception e) when (!_closing.IsCancellationRequested)
            {
                _logger.LogInformation("{Portal}: connection recovery login failed: {Error}", Portal, e.Message);
            }
            try { await Task.Delay(delay, _closing.Token).ConfigureAwait(false); }
            catch (OperationCanceledException) { return true; }
            delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, _options.Reconnect.MaxRetryDelay.TotalMilliseconds));
        }
        _logger.LogWarning("{Portal}: no connection could join the session within DefaultTime2Retain ({Seconds} s)", Portal, Negotiated.DefaultTime2Retain);
        return false;
    }

    /// <summary>ERL 2: makes the new connection the lead; the failed one's commands move to it by TASK REASSIGN.</summary>
    private void InstallReassigning(InitiatorConnection connection, InitiatorConnection failed)
    {
        TaskCompletionSource<InitiatorConnection> signal;
        lock (_gate)
        {
            _connection = connection;
            _connections.Insert(0, connection);
            if (_state == IscsiSessionState.Recovering) _state = IscsiSessionState.LoggedIn;
            signal = _connected;
        }
        connection.Receiver = new ConnectionReceiver(this, connection);
        connection.Datamover.StartReceiving(connection.Receiver, _options.Completions.BusyPoll);
        signal.TrySetResult(connection);
        Reassign(failed, connection);
    }

    /// <summary>
    /// ERL 2: every command sent on <paramref name="failed"/> becomes allegiant to <paramref name="to"/>, whose datamover
    /// takes its data over, and is moved at the target with TASK REASSIGN.
    /// </summary>
    private void Reassign(InitiatorConnection failed, InitiatorConnection to)
    {
        var moved = new List<(InitiatorTask Task, int Generation)>();
        var unnumbered = new List<(InitiatorTask Task, int Generation)>();
        lock (_gate)
        {
            foreach (var task in _table.TasksLocked)
            {
                if (task.IsCompleted || !ReferenceEquals(task.Connection, failed)) continue;
                if (task.Aborting != 0)
                {
                    task.TryFail(new OperationCanceledException("The command was cancelled while its connection was replaced."));
                    continue;
                }
                if (task.StampedOn is null)
                {
                    // Handed to the failed connection but never numbered: the target cannot know it, nothing to
                    // reassign. Its unused window slot goes back and it is sent on the new connection as a new command.
                    failed.ReleaseUnusedSlot();
                    task.Connection = to;
                    unnumbered.Add((task, task.Generation));
                    continue;
                }
                task.DropHeldStatus();
                task.ExpectedDataSN = 0;
                task.Connection = to;
                task.SentTicks = Environment.TickCount64;
                moved.Add((task, task.Generation));
            }
        }
        foreach (var (task, _) in moved)
            if (!to.Datamover.AdoptTask(task, task.ReadBuffer, task.WriteBuffer))
                lock (_gate) task.TryFail(new IscsiConnectionException($"The {to.Datamover.TransportName} transport cannot take over a command of a failed connection."));
        if (moved.Count > 0) _logger.LogInformation("{Portal}: reassigning {Count} command(s) to connection {Cid}", Portal, moved.Count, to.Cid);
        foreach (var (task, generation) in moved) _ = ReassignAsync(to, task, generation);
        foreach (var (task, generation) in unnumbered) _ = ReissueAsync(to, task, generation);
    }

    /// <summary>TASK REASSIGN of one command; one the target never received is retried (its CmdSN fills the gap).</summary>
    private async Task ReassignAsync(InitiatorConnection connection, InitiatorTask task, int generation)
    {
        TaskManagementResponse response;
        try
        {
            response = await TaskManagementAsync(connection, TaskManagementFunction.TaskReassign, task.Lun, task.InitiatorTaskTag, task.CmdSN,
                CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            _logger.LogDebug("{Portal}: TASK REASSIGN of 0x{Itt:x8} not answered: {Error}", Portal, task.InitiatorTaskTag, e.Message);
            return; // this connection failed too: the next recovery takes the command over
        }
        switch (response)
        {
            case TaskManagementResponse.FunctionComplete:
                _logger.LogDebug("{Portal}: command 0x{Itt:x8} reassigned", Portal, task.InitiatorTaskTag);
                break;
            case TaskManagementResponse.TaskDoesNotExist:
                Retry(task, generation, "it never reached the target before its connection failed");
                break;
            default:
                // Outside RFC 7143 §11.6.1 for a target that negotiated ERL 2 (Linux LIO 6.1 answers 255 to a task it does
                // move). A retry is safe whatever the truth: a target at level 1 or more never runs a retried command twice,
                // it answers it again or runs one it never had; CommandTimeout still bounds the command.
                _logger.LogWarning("{Portal}: TASK REASSIGN of 0x{Itt:x8} answered {Response}; retrying the command instead",
                    Portal, task.InitiatorTaskTag, response.Describe());
                Retry(task, generation, $"TASK REASSIGN was answered {response}");
                break;
        }
    }

    private async Task RecoverAsync(string reason)
    {
        var policy = _options.Reconnect;
        long deadline = Environment.TickCount64 + (long)policy.ReplacementTimeout.TotalMilliseconds;
        var delay = policy.InitialRetryDelay;
        string lastError = reason;
        while (!_closing.IsCancellationRequested)
        {
            long remaining = deadline - Environment.TickCount64;
            if (remaining <= 0) break;
            try
            {
                using var attempt = CancellationTokenSource.CreateLinkedTokenSource(_closing.Token);
                attempt.CancelAfter(TimeSpan.FromMilliseconds(remaining));
                var (connection, negotiated, tsih) = await _login.ConnectAsync(attempt.Token).ConfigureAwait(false);
                Negotiated = negotiated;
                _tsih = tsih;
                Interlocked.Increment(ref _reconnects);
                Diagnostics.InitiatorMetrics.Reconnects.Add(1);
                _logger.LogInformation("{Portal}: session to {Target} recovered (ISID 0x{Isid:x12})", Portal, TargetName, Isid);
                Install(connection);
                _ = AddConnectionsAsync(_closing.Token); // MC/S: the new session gets its other connections back
                return;
            }
            catch (IscsiLoginException e) when (e.Status is { StatusClass: 0x02 } && !_closing.IsCancellationRequested)
            {
                // Status class 2 (RFC 7143 §11.13.5): the target refuses this initiator (authentication, authorization,
                // target gone); asking again the same way cannot succeed, so the session ends now, saying why.
                var refused = new IscsiConnectionException(
                    $"The connection to {TargetName} at {Portal} was lost ({reason}) and the target refused a new login: {e.Message}", e);
                _logger.LogError("{Message}", refused.Message);
                FailSession(refused, IscsiSessionState.Failed);
                return;
            }
            catch (Exception e) when (!_closing.IsCancellationRequested)
            {
                lastError = e.Message;
                _logger.LogInformation("{Portal}: login attempt failed: {Error}", Portal, e.Message);
            }
            remaining = deadline - Environment.TickCount64;
            if (remaining <= 0) break;
            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds, remaining)), _closing.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) { break; }
            delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, policy.MaxRetryDelay.TotalMilliseconds));
        }
        var failure = new IscsiConnectionException(
            $"The connection to {TargetName} at {Portal} was lost ({reason}) and could not be re-established within " +
            $"{policy.ReplacementTimeout.TotalSeconds:0.###} s (last attempt: {lastError}).");
        _logger.LogError("{Message}", failure.Message);
        FailSession(failure, IscsiSessionState.Failed);
    }

    /// <summary>Ends the session: every outstanding command and exchange fails with <paramref name="error"/>.</summary>
    private void FailSession(Exception error, IscsiSessionState state)
    {
        lock (_gate)
        {
            if (!_table.Close(error)) return;
            if (Negotiated is not null) Diagnostics.InitiatorMetrics.Sessions.Add(-1);
            _state = state;
            _connected.TrySetException(error);
        }
        InitiatorConnection[] connections;
        lock (_gate) connections = [.. _connections];
        _connection?.MarkLost(error);
        _connection?.Window.Fail(error);
        foreach (var c in connections) c.MarkLost(error);
    }
}
