using System.Diagnostics;
using Iser.Core.Iscsi.Pdus;
using Iser.Core.Iscsi.Text;
using Iser.Core.Scsi;
using Microsoft.Extensions.Logging;

namespace Iser.Core.Iscsi.Initiator;

public sealed partial class IscsiSession
{
    /// <summary>
    /// Sends a NOP-Out that asks for a reply and returns the round-trip time. A target that does not answer within
    /// <paramref name="timeout"/> (default <see cref="IscsiSessionOptions.NopTimeout"/>) is reported with an
    /// <see cref="IscsiConnectionException"/>.
    /// </summary>
    public async Task<TimeSpan> PingAsync(TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var wait = timeout ?? (_options.NopTimeout > TimeSpan.Zero ? _options.NopTimeout : TimeSpan.FromSeconds(10));
        var connection = await WaitForConnectionAsync(cancellationToken).ConfigureAwait(false);
        var pdu = PduPool.Rent();
        pdu.Opcode = IscsiOpcode.NopOut;
        pdu.Immediate = true;
        pdu.Final = true;
        pdu.InitiatorTaskTag = AllocateTag();
        pdu.Field20 = Pdu.ReservedTag;
        var clock = Stopwatch.StartNew();
        var reply = await ExchangeAsync(connection, pdu, wait, "NOP-Out ping", cancellationToken).ConfigureAwait(false);
        clock.Stop();
        PduPool.Return(reply);
        return clock.Elapsed;
    }

    /// <summary>Sends <paramref name="request"/> (its ITT already set) and waits for the PDU answering it.</summary>
    private async Task<Pdu> ExchangeAsync(InitiatorConnection connection, Pdu request, TimeSpan timeout, string what, CancellationToken ct)
    {
        uint itt = request.InitiatorTaskTag;
        var waiter = new TaskCompletionSource<Pdu>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            if (_failure is not null)
            {
                PduPool.Return(request);
                throw Wrap(_failure);
            }
            _exchanges[itt] = waiter;
        }
        try
        {
            try
            {
                await connection.Datamover.SendControlAsync(request, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                throw Wrap(e);
            }
            return await waiter.Task.WaitAsync(timeout, ct).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new IscsiConnectionException($"The target at {Portal} did not answer the {what} within {timeout.TotalSeconds:0.###} s.");
        }
        finally
        {
            lock (_gate) _exchanges.Remove(itt);
        }
    }

    /// <summary>
    /// Idle keep-alive and watchdog: when nothing has arrived for <see cref="IscsiSessionOptions.NopInterval"/> a
    /// NOP-Out goes out (asking for a reply when <see cref="IscsiSessionOptions.NopTimeout"/> is set, and a connection
    /// that stays silent that long is given up); commands older than <see cref="IscsiSessionOptions.CommandTimeout"/>
    /// are aborted.
    /// </summary>
    private async Task KeepAliveLoopAsync()
    {
        var interval = _options.NopInterval;
        var smallest = interval > TimeSpan.Zero ? interval : TimeSpan.FromSeconds(4);
        if (_options.NopTimeout > TimeSpan.Zero && _options.NopTimeout < smallest) smallest = _options.NopTimeout;
        if (_options.CommandTimeout is { } ct && ct > TimeSpan.Zero && ct < smallest) smallest = ct;
        var stall = _options.Completions.InlineStallTimeout;
        if (_inlineCompletions && stall > TimeSpan.Zero && stall < smallest) smallest = stall;
        var tick = TimeSpan.FromMilliseconds(Math.Clamp(smallest.TotalMilliseconds / 4, 10, 1000));
        using var timer = new PeriodicTimer(tick);
        try
        {
            while (await timer.WaitForNextTickAsync(_closing.Token).ConfigureAwait(false))
            {
                var connection = _connection;
                if (connection is null || connection.Failure is not null) continue;
                long now = Environment.TickCount64;
                if (interval > TimeSpan.Zero) CheckLiveness(connection, now);
                if (_inlineCompletions) CheckInlineStall(connection, now);
                if (_options.CommandTimeout is { } timeout && timeout > TimeSpan.Zero) AbortExpired(connection, now, timeout);
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
        _inlineCompletions = false;
        var error = new IscsiConnectionException(
            $"A continuation running inline on the completion thread of the connection to {Portal} has held it for {running / 1000.0:0.#} s " +
            "(CompletionOptions.Inline forbids blocking there); the connection is dropped, unanswered commands are re-issued on a new one, " +
            "and completions run on the thread pool from now on.");
        _logger.LogError("{Message}", error.Message);
        _ = OnConnectionLostAsync(connection, error);
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
                    $"The target at {Portal} did not answer a NOP-Out ping within {_options.NopTimeout.TotalSeconds:0.###} s; the connection is considered dead.");
                _logger.LogWarning("{Message}", error.Message);
                _ = OnConnectionLostAsync(connection, error);
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
        ping.InitiatorTaskTag = wantReply ? KeepAliveTag : Pdu.ReservedTag;
        ping.Field20 = Pdu.ReservedTag;
        connection.KeepAliveSentTicks = now;
        connection.KeepAliveOutstanding = wantReply;
        TrySend(connection, ping, "keep-alive NOP-Out");
    }

    private void AbortExpired(InitiatorConnection connection, long now, TimeSpan timeout)
    {
        List<InitiatorTask>? expired = null;
        lock (_gate)
        {
            foreach (var task in _tasks.Values)
                if (ReferenceEquals(task.Connection, connection) && !task.IsCompleted && task.Aborting == 0
                    && now - task.SentTicks > timeout.TotalMilliseconds)
                    (expired ??= new()).Add(task);
        }
        if (expired is null) return;
        foreach (var task in expired)
            BeginAbort(task, task.Generation, new IscsiCommandTimeoutException(
                $"The command (opcode 0x{task.Cdb[0]:x2}) got no answer from {Portal} within {timeout.TotalSeconds:0.###} s and was aborted."));
    }

    /// <summary>Ends a command early: a command the target has seen gets ABORT TASK first (RFC 7143 §11.5.1).</summary>
    internal void BeginAbort(InitiatorTask task, int generation, Exception reason)
    {
        InitiatorConnection? connection;
        uint itt, cmdSN;
        ulong lun;
        lock (_gate)
        {
            if (task.Generation != generation || task.IsCompleted) return;
            if (Interlocked.Exchange(ref task.Aborting, 1) != 0) return;
            connection = task.Connection;
            itt = task.InitiatorTaskTag;
            cmdSN = task.CmdSN;
            lun = task.Lun;
            if (connection is null || connection.Failure is not null)
            {
                task.TryFail(reason); // never reached a live connection
                return;
            }
        }
        _ = AbortTaskAsync(task, generation, connection, itt, cmdSN, lun, reason);
    }

    private async Task AbortTaskAsync(InitiatorTask task, int generation, InitiatorConnection connection, uint itt, uint cmdSN, ulong lun, Exception reason)
    {
        try
        {
            var response = await TaskManagementAsync(connection, TaskManagementFunction.AbortTask, lun, itt, cmdSN, CancellationToken.None).ConfigureAwait(false);
            _logger.LogInformation("{Portal}: ABORT TASK for 0x{Itt:x8}: {Response}", Portal, itt, response.Describe());
        }
        catch (Exception e)
        {
            _logger.LogWarning("{Portal}: ABORT TASK for 0x{Itt:x8} failed: {Error}", Portal, itt, e.Message);
        }
        lock (_gate)
        {
            if (task.Generation == generation && _tasks.TryGetValue(itt, out var t) && ReferenceEquals(t, task)) task.TryFail(reason);
        }
    }

    /// <summary>Sends a Task Management Function Request (immediate) and returns the response code (RFC 7143 §11.6.1).</summary>
    private async Task<TaskManagementResponse> TaskManagementAsync(InitiatorConnection connection, TaskManagementFunction function, ulong lun,
        uint referencedTag, uint refCmdSN, CancellationToken ct)
    {
        var pdu = PduPool.Rent();
        pdu.Opcode = IscsiOpcode.TaskManagementRequest;
        pdu.Immediate = true;
        pdu.Flags = (byte)(0x80 | (byte)function);
        pdu.Lun = lun;
        pdu.InitiatorTaskTag = AllocateTag();
        pdu.Field20 = referencedTag;
        pdu.Field32 = refCmdSN;
        var reply = await ExchangeAsync(connection, pdu, _options.ManagementTimeout, $"{function.Name()} request", ct).ConfigureAwait(false);
        var response = (TaskManagementResponse)reply.Bhs[2];
        PduPool.Return(reply);
        return response;
    }

    /// <summary>LOGICAL UNIT RESET (function 5); throws when the target does not complete it.</summary>
    public async Task ResetLunAsync(int lun, CancellationToken cancellationToken = default)
    {
        var connection = await WaitForConnectionAsync(cancellationToken).ConfigureAwait(false);
        var response = await TaskManagementAsync(connection, TaskManagementFunction.LogicalUnitReset, LunAddressing.Encode(lun), Pdu.ReservedTag, 0,
            cancellationToken).ConfigureAwait(false);
        if (response != TaskManagementResponse.FunctionComplete) throw new IscsiException($"LOGICAL UNIT RESET of LUN {lun} failed: {response.Describe()}");
    }

    /// <summary>
    /// SendTargets (RFC 7143 Appendix C): the targets this session may see and their portals. Long answers arrive in
    /// several Text Responses (C bit / TTT continuation), which are put back together here.
    /// </summary>
    public async Task<IReadOnlyList<DiscoverableTarget>> SendTargetsAsync(string value = "All", CancellationToken cancellationToken = default)
    {
        var connection = await WaitForConnectionAsync(cancellationToken).ConfigureAwait(false);
        var assembler = new TextSegmentAssembler();
        uint itt = AllocateTag();
        uint ttt = Pdu.ReservedTag;
        bool first = true;
        while (true)
        {
            await connection.AcquireSlotAsync(cancellationToken).ConfigureAwait(false);
            var pdu = PduPool.Rent();
            pdu.Opcode = IscsiOpcode.TextRequest;
            pdu.Final = true;
            pdu.InitiatorTaskTag = itt;
            pdu.Field20 = ttt;
            if (first) pdu.SetData(TextKeyValueCodec.Encode(new TextKeyValue(KeyNames.SendTargets, value)));
            first = false;
            var reply = await ExchangeAsync(connection, pdu, _options.ManagementTimeout, "SendTargets text request", cancellationToken).ConfigureAwait(false);
            try
            {
                bool more = (reply.Flags & 0x40) != 0 || !reply.Final;
                try { assembler.Append(reply.Data.Span, (reply.Flags & 0x40) != 0); }
                catch (TextFormatException e) { throw new IscsiException($"The target's SendTargets answer is malformed: {e.Message}"); }
                if (!more) break;
                ttt = reply.Field20; // ask for the next part with the target's transfer tag
            }
            finally
            {
                PduPool.Return(reply);
            }
        }
        var text = assembler.TakeText();
        if (!TextKeyValueCodec.TryParse(text, out var pairs, out var error, allowRepeatedKeys: true))
            throw new IscsiException($"The target's SendTargets answer is malformed: {error}");
        return ParseSendTargets(pairs, _options.Port);
    }

    internal static List<DiscoverableTarget> ParseSendTargets(List<TextKeyValue> pairs, int defaultPort)
    {
        var targets = new List<DiscoverableTarget>();
        string? name = null;
        List<TargetPortal>? portals = null;
        foreach (var pair in pairs)
        {
            if (pair.Key == KeyNames.TargetName)
            {
                if (name is not null) targets.Add(new DiscoverableTarget(name, portals!));
                name = pair.Value;
                portals = new List<TargetPortal>();
            }
            else if (pair.Key == KeyNames.TargetAddress && portals is not null && TryParseTargetAddress(pair.Value, defaultPort, out var portal))
                portals.Add(portal);
        }
        if (name is not null) targets.Add(new DiscoverableTarget(name, portals!));
        return targets;
    }

    /// <summary>Parses a TargetAddress value: <c>host[:port][,tpgt]</c>, IPv6 in brackets.</summary>
    public static bool TryParseTargetAddress(string value, int defaultPort, out TargetPortal portal)
    {
        portal = null!;
        ushort tag = 1;
        int comma = value.LastIndexOf(',');
        string address = value;
        if (comma >= 0 && (value.LastIndexOf(']') < comma))
        {
            if (!ushort.TryParse(value.AsSpan(comma + 1), out tag)) return false;
            address = value[..comma];
        }
        string host;
        int port = defaultPort;
        if (address.StartsWith('['))
        {
            int close = address.IndexOf(']');
            if (close < 0) return false;
            host = address[1..close];
            if (close + 1 < address.Length && (address[close + 1] != ':' || !int.TryParse(address.AsSpan(close + 2), out port))) return false;
        }
        else
        {
            int colon = address.LastIndexOf(':');
            if (colon >= 0 && address.IndexOf(':') == colon)
            {
                if (!int.TryParse(address.AsSpan(colon + 1), out port)) return false;
                host = address[..colon];
            }
            else host = address;
        }
        if (host.Length == 0 || port is < 1 or > 65535) return false;
        portal = new TargetPortal(host, port, tag);
        return true;
    }

    /// <summary>
    /// Logs the session out (reason "close the session"): the target finishes what it has, answers, and closes.
    /// Commands still waiting fail afterwards with <see cref="IscsiException"/>.
    /// </summary>
    public Task LogoutAsync(CancellationToken cancellationToken = default) => LogoutAsync("The session was logged out.", cancellationToken);

    private async Task LogoutAsync(string reason, CancellationToken cancellationToken = default)
    {
        InitiatorConnection? connection;
        lock (_gate)
        {
            if (_loggingOut || _failure is not null) return;
            _loggingOut = true;
            connection = _connection;
        }
        if (connection is not null && connection.Failure is null)
        {
            var pdu = PduPool.Rent();
            pdu.Opcode = IscsiOpcode.LogoutRequest;
            pdu.Immediate = true;
            pdu.Flags = (byte)(0x80 | (byte)LogoutReason.CloseSession);
            pdu.InitiatorTaskTag = AllocateTag();
            try
            {
                var reply = await ExchangeAsync(connection, pdu, _options.ManagementTimeout, "Logout Request", cancellationToken).ConfigureAwait(false);
                var response = (LogoutResponse)reply.Bhs[2];
                PduPool.Return(reply);
                if (response != LogoutResponse.ClosedSuccessfully) _logger.LogWarning("{Portal}: {Response}", Portal, response.Describe());
                else _logger.LogInformation("{Portal}: logged out of {Target}", Portal, TargetName ?? "discovery");
            }
            catch (IscsiException e)
            {
                _logger.LogWarning("{Portal}: logout failed: {Error}", Portal, e.Message);
            }
            connection.MarkLost(new IscsiException(reason));
            await connection.Datamover.TerminateAsync("logged out").ConfigureAwait(false);
        }
        FailSession(new IscsiException(reason), IscsiSessionState.LoggedOut);
        try { _closing.Cancel(); } catch (ObjectDisposedException) { }
    }
}
