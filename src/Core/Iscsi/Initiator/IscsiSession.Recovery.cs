using Iser.Core.Iscsi.Pdus;
using Microsoft.Extensions.Logging;

namespace Iser.Core.Iscsi.Initiator;

public sealed partial class IscsiSession
{
    /// <summary>Makes <paramref name="connection"/> current, starts its receive loop and re-issues what the previous one left unanswered.</summary>
    private void Install(InitiatorConnection connection)
    {
        List<(InitiatorTask Task, int Generation)> reissue = new();
        List<InitiatorTask> aborted = new();
        TaskCompletionSource<InitiatorConnection> signal;
        lock (_gate)
        {
            _connection = connection;
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
    /// The connection broke (or was declared dead). Without recovery every outstanding command fails now; with it the
    /// session logs in again with the same ISID (reinstatement) and holds its commands for up to ReplacementTimeout.
    /// </summary>
    internal async Task OnConnectionLostAsync(InitiatorConnection connection, Exception error)
    {
        string reason = error is OperationCanceledException ? "the session is closing" : error.Message;
        var lost = new IscsiConnectionException($"The connection to {TargetName ?? "discovery"} at {Portal} was lost: {reason}", error);
        if (!connection.MarkLost(lost)) return;
        _table.FailExchanges(lost);
        bool recover;
        lock (_gate)
        {
            bool failed = _table.Failure is not null;
            recover = ReferenceEquals(_connection, connection) && !failed && !_loggingOut && _options.Reconnect.Enabled
                      && !_closing.IsCancellationRequested;
            if (ReferenceEquals(_connection, connection) && !failed)
            {
                // A command may already have swapped in a fresh signal (WaitForConnectionAsync); its waiters need it.
                if (_connected.Task.IsCompleted) _connected = NewConnectedSignal();
                if (recover) _state = IscsiSessionState.Recovering;
            }
        }
        await connection.Datamover.TerminateAsync(reason).ConfigureAwait(false);
        if (_loggingOut || _closing.IsCancellationRequested) return;
        if (!recover)
        {
            bool current;
            lock (_gate) current = ReferenceEquals(_connection, connection);
            if (current)
            {
                _logger.LogWarning("{Message}", lost.Message);
                FailSession(lost, IscsiSessionState.Failed);
            }
            return;
        }
        _logger.LogWarning("{Message}; logging in again (replacement timeout {Timeout} s)", lost.Message, _options.Reconnect.ReplacementTimeout.TotalSeconds);
        await RecoverAsync(reason).ConfigureAwait(false);
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
                var (connection, negotiated) = await _login.ConnectAsync(attempt.Token).ConfigureAwait(false);
                Negotiated = negotiated;
                Interlocked.Increment(ref _reconnects);
                _logger.LogInformation("{Portal}: session to {Target} recovered (ISID 0x{Isid:x12})", Portal, TargetName, Isid);
                Install(connection);
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
            _state = state;
            _connected.TrySetException(error);
        }
        _connection?.MarkLost(error);
    }
}
