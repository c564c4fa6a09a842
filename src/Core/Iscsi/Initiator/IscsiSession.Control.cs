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
        pdu.InitiatorTaskTag = _table.AllocateTag();
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
        try
        {
            _table.AddExchange(itt, waiter, connection);
        }
        catch
        {
            PduPool.Return(request);
            throw;
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
            _table.RemoveExchange(itt);
        }
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
            if (task.Generation == generation && _table.TryGetLocked(itt, out var t) && ReferenceEquals(t, task)) task.TryFail(reason);
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
        pdu.InitiatorTaskTag = _table.AllocateTag();
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
        uint itt = _table.AllocateTag();
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
        return SendTargetsText.Parse(pairs, _options.Port);
    }

    /// <summary>
    /// Logs the session out (reason "close the session"): the target finishes what it has, answers, and closes.
    /// Commands still waiting fail afterwards with <see cref="IscsiException"/>.
    /// </summary>
    public Task LogoutAsync(CancellationToken cancellationToken = default) => LogoutAsync("The session was logged out.", cancellationToken);

    internal async Task LogoutAsync(string reason, CancellationToken cancellationToken = default)
    {
        InitiatorConnection? connection;
        lock (_gate)
        {
            if (_loggingOut || _table.Failure is not null) return;
            _loggingOut = true;
            connection = _connection;
        }
        if (connection is not null && connection.Failure is null)
        {
            var pdu = PduPool.Rent();
            pdu.Opcode = IscsiOpcode.LogoutRequest;
            pdu.Immediate = true;
            pdu.Flags = (byte)(0x80 | (byte)LogoutReason.CloseSession);
            pdu.InitiatorTaskTag = _table.AllocateTag();
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
        // The other connections of the session (MC/S) end with it; the target closes its side of them too.
        foreach (var other in LiveConnections)
        {
            if (ReferenceEquals(other, connection)) continue;
            other.MarkLost(new IscsiException(reason));
            await other.Datamover.TerminateAsync("the session logged out").ConfigureAwait(false);
        }
        FailSession(new IscsiException(reason), IscsiSessionState.LoggedOut);
        try { _closing.Cancel(); } catch (ObjectDisposedException) { }
    }
}
