using Iser.Core.Iscsi.Pdus;
using Microsoft.Extensions.Logging;

namespace Iser.Core.Iscsi.Initiator;

/// <summary>
/// The session's watchdog, one timer for the session's life: NOP-Out keep-alive on an idle connection and the verdict
/// on one that stays silent, the abort of commands past their timeout, and the guard on inline continuations that
/// hold the completion thread. Each verdict is handed back to the session (connection lost, abort).
/// </summary>
internal sealed class SessionKeepAlive(IscsiSession session, InitiatorTaskTable table, IscsiSessionOptions options, ILogger logger)
{
    private readonly IscsiSession _session = session;
    private readonly InitiatorTaskTable _table = table;
    private readonly IscsiSessionOptions _options = options;
    private readonly ILogger _logger = logger;

    /// <summary>
    /// Idle keep-alive and watchdog: when nothing has arrived for <see cref="IscsiSessionOptions.NopInterval"/> a
    /// NOP-Out goes out (asking for a reply when <see cref="IscsiSessionOptions.NopTimeout"/> is set, and a connection
    /// that stays silent that long is given up); commands older than <see cref="IscsiSessionOptions.CommandTimeout"/>
    /// are aborted.
    /// </summary>
    public async Task RunAsync(CancellationToken closing)
    {
        var interval = _options.NopInterval;
        var smallest = interval > TimeSpan.Zero ? interval : TimeSpan.FromSeconds(4);
        if (_options.NopTimeout > TimeSpan.Zero && _options.NopTimeout < smallest) smallest = _options.NopTimeout;
        if (_options.CommandTimeout is { } ct && ct > TimeSpan.Zero && ct < smallest) smallest = ct;
        var recovery = _options.RecoveryTimeout;
        if ((_options.ErrorRecoveryLevel ?? 0) >= 1 && recovery > TimeSpan.Zero && recovery < smallest) smallest = recovery;
        var stall = _options.Completions.InlineStallTimeout;
        if (_session.InlineCompletions && stall > TimeSpan.Zero && stall < smallest) smallest = stall;
        var tick = TimeSpan.FromMilliseconds(Math.Clamp(smallest.TotalMilliseconds / 4, 10, 1000));
        using var timer = new PeriodicTimer(tick);
        try
        {
            while (await timer.WaitForNextTickAsync(closing).ConfigureAwait(false))
            {
                // Each connection of the session is watched on its own (MC/S): one can die while the others carry on.
                foreach (var connection in _session.LiveConnections)
                {
                    if (connection.Failure is not null) continue;
                    long now = Environment.TickCount64;
                    if (interval > TimeSpan.Zero) CheckLiveness(connection, now);
                    if (_session.InlineCompletions) CheckInlineStall(connection, now);
                    if (connection.ErrorRecoveryLevel >= 1 && recovery > TimeSpan.Zero) RetryUnanswered(connection, now, recovery);
                    if (_options.CommandTimeout is { } timeout && timeout > TimeSpan.Zero) AbortExpired(connection, now, timeout);
                }
            }
        }
        catch (OperationCanceledException) { }
    }

    /// <summary>
    /// An inline continuation that holds the completion thread past <see cref="CompletionOptions.InlineStallTimeout"/>
    /// has blocked it, and every completion of the connection waits behind it (its caller may even wait for one of
    /// them). The connection is dropped and recovery logs in again and re-issues the unanswered commands on a new one,
    /// which releases such a caller; completions run on the thread pool from then on.
    /// </summary>
    private void CheckInlineStall(InitiatorConnection connection, long now)
    {
        var limit = _options.Completions.InlineStallTimeout;
        if (limit <= TimeSpan.Zero || connection.Receiver is not { } receiver) return;
        long running = receiver.DispatchRunningFor(now);
        if (running <= limit.TotalMilliseconds) return;
        _session.StopInlineCompletions();
        var error = new IscsiConnectionException(
            $"A continuation running inline on the completion thread of the connection to {_session.Portal} has held it for {running / 1000.0:0.#} s " +
            "(CompletionOptions.Inline forbids blocking there); the connection is dropped, unanswered commands are re-issued on a new one, " +
            "and completions run on the thread pool from now on.");
        _logger.LogError("{Message}", error.Message);
        _ = _session.OnConnectionLostAsync(connection, error);
    }

    private void CheckLiveness(InitiatorConnection connection, long now)
    {
        long lastReceive = Volatile.Read(ref connection.LastReceiveTicks);
        if (connection.KeepAliveOutstanding)
        {
            if (lastReceive >= connection.KeepAliveSentTicks) connection.KeepAliveOutstanding = false;
            else if (now - connection.KeepAliveSentTicks > _options.NopTimeout.TotalMilliseconds)
            {
                var error = new IscsiConnectionException(
                    $"The target at {_session.Portal} did not answer a NOP-Out ping within {_options.NopTimeout.TotalSeconds:0.###} s; the connection is considered dead.");
                _logger.LogWarning("{Message}", error.Message);
                Diagnostics.InitiatorMetrics.KeepAlivesMissed.Add(1);
                _ = _session.OnConnectionLostAsync(connection, error);
            }
            return;
        }
        // Idle means: nothing received and no keep-alive sent for a whole interval (a one-way ping gets no answer).
        if (now - Math.Max(lastReceive, connection.KeepAliveSentTicks) < _options.NopInterval.TotalMilliseconds) return;
        bool wantReply = _options.NopTimeout > TimeSpan.Zero;
        var ping = PduPool.Rent();
        ping.Opcode = IscsiOpcode.NopOut;
        ping.Immediate = true;
        ping.Final = true;
        // A reply-requesting ping uses a tag of its own; the one-way form is ITT = TTT = 0xffffffff (RFC 7143 §11.18).
        ping.InitiatorTaskTag = wantReply ? InitiatorTaskTable.KeepAliveTag : Pdu.ReservedTag;
        ping.Field20 = Pdu.ReservedTag;
        connection.KeepAliveSentTicks = now;
        connection.KeepAliveOutstanding = wantReply;
        Diagnostics.InitiatorMetrics.KeepAlivesSent.Add(1);
        _session.TrySend(connection, ping, "keep-alive NOP-Out");
    }

    private const int MaxRetries = 3;

    /// <summary>ERL 1: a command unanswered for <paramref name="after"/> since it was sent (or last retried) is retried.</summary>
    private void RetryUnanswered(InitiatorConnection connection, long now, TimeSpan after)
    {
        List<(InitiatorTask, int)>? due = null;
        lock (_table.Gate)
        {
            foreach (var task in _table.TasksLocked)
                if (ReferenceEquals(task.Connection, connection) && !task.IsCompleted && task.Aborting == 0 && task.Retries < MaxRetries
                    && task.SentTicks != 0 && now - Math.Max(task.SentTicks, task.RetriedTicks) > after.TotalMilliseconds)
                    (due ??= new()).Add((task, task.Generation));
        }
        if (due is null) return;
        foreach (var (task, generation) in due)
            _session.Retry(task, generation, $"no status within {after.TotalSeconds:0.###} s");
    }

    private void AbortExpired(InitiatorConnection connection, long now, TimeSpan timeout)
    {
        List<InitiatorTask>? expired = null;
        lock (_table.Gate)
        {
            foreach (var task in _table.TasksLocked)
                if (ReferenceEquals(task.Connection, connection) && !task.IsCompleted && task.Aborting == 0
                    && now - task.SentTicks > timeout.TotalMilliseconds)
                    (expired ??= new()).Add(task);
        }
        if (expired is null) return;
        foreach (var task in expired)
            _session.BeginAbort(task, task.Generation, new IscsiCommandTimeoutException(
                $"The command (opcode 0x{task.Cdb[0]:x2}) got no answer from {_session.Portal} within {timeout.TotalSeconds:0.###} s and was aborted."));
    }
}
