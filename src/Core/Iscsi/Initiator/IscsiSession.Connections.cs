using Iser.Core.Iscsi.Pdus;
using Microsoft.Extensions.Logging;

namespace Iser.Core.Iscsi.Initiator;

public sealed partial class IscsiSession
{
    /// <summary>
    /// MC/S (RFC 7143 §4.3): after the leading login, logs in as many more connections as both sides allow (the lower of
    /// <see cref="IscsiSessionOptions.MaxConnections"/> and the target's MaxConnections), CIDs 1, 2, ... A connection
    /// that cannot be added is logged; the session goes on with those it has.
    /// </summary>
    private async Task AddConnectionsAsync(CancellationToken ct)
    {
        int wanted = Math.Min(_options.MaxConnections, Negotiated.MaxConnections);
        if (Negotiated.IsDiscovery || wanted <= 1) return;
        for (ushort cid = 1; cid < wanted; cid++)
            if (!await AddConnectionAsync(cid, ct).ConfigureAwait(false)) break;
        _logger.LogInformation("{Portal}: session to {Target} has {Count} connection(s)", Portal, TargetName, ConnectionCount);
    }

    /// <summary>Logs one more connection into the session with <paramref name="cid"/>; false when it could not.</summary>
    private async Task<bool> AddConnectionAsync(ushort cid, CancellationToken ct)
    {
        InitiatorConnection lead;
        lock (_gate)
        {
            if (_connection is not { Failure: null } live || _table.Failure is not null || _loggingOut) return false;
            lead = live;
        }
        InitiatorConnection connection;
        try
        {
            var resume = new SessionResume(_tsih, lead.Window, 0, Negotiated);
            (connection, _, _) = await _login.ConnectAsync(ct, resume, cid).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IscsiException or OperationCanceledException && !ct.IsCancellationRequested)
        {
            _logger.LogWarning("{Portal}: connection {Cid} could not join the session: {Error}", Portal, cid, e.Message);
            return false;
        }
        bool joined;
        lock (_gate)
        {
            // The session may have been lost or closed meanwhile, or started over with another window.
            joined = _table.Failure is null && !_loggingOut && ReferenceEquals(_connection?.Window, connection.Window);
            if (joined) _connections.Add(connection);
        }
        if (!joined)
        {
            await connection.Datamover.TerminateAsync("the session changed while this connection logged in").ConfigureAwait(false);
            return false;
        }
        connection.Receiver = new ConnectionReceiver(this, connection);
        connection.Datamover.StartReceiving(connection.Receiver, _options.Completions.BusyPoll);
        return true;
    }

    /// <summary>
    /// ERL 2 with MC/S: <paramref name="failed"/>'s commands move to <paramref name="survivor"/>, a live connection of the
    /// session. After DefaultTime2Wait a Logout "remove the connection for recovery" naming the failed CID tells the
    /// target to let go of it (it may not have noticed the failure; "CID not found" says it had), then every command is
    /// reassigned (TASK REASSIGN). A new connection then takes the failed one's CID, so the session keeps its size.
    /// </summary>
    private async Task ReassignToSurvivorAsync(InitiatorConnection failed, InitiatorConnection survivor)
    {
        try { await Task.Delay(TimeSpan.FromSeconds(Negotiated.DefaultTime2Wait), _closing.Token).ConfigureAwait(false); }
        catch (OperationCanceledException) { return; }
        try
        {
            var response = await LogoutConnectionAsync(survivor, failed.Cid, LogoutReason.RemoveConnectionForRecovery, CancellationToken.None).ConfigureAwait(false);
            if (response is not (LogoutResponse.ClosedSuccessfully or LogoutResponse.CidNotFound))
                _logger.LogWarning("{Portal}: removing connection {Cid} for recovery: {Response}", Portal, failed.Cid, response.Describe());
        }
        catch (IscsiException e)
        {
            _logger.LogInformation("{Portal}: connection {Cid} could not be removed for recovery: {Error}", Portal, failed.Cid, e.Message);
            if (survivor.Failure is not null)
            {
                // The survivor failed too: another live connection takes over, else the commands end by CommandTimeout.
                InitiatorConnection? next;
                lock (_gate) next = _connections.Find(c => c.Failure is null);
                if (next is not null) await ReassignToSurvivorAsync(failed, next).ConfigureAwait(false);
                return;
            }
        }
        Interlocked.Increment(ref _connectionRecoveries);
        Diagnostics.InitiatorMetrics.ConnectionRecoveries.Add(1);
        Reassign(failed, survivor);
        _ = AddConnectionAsync(failed.Cid, _closing.Token);
    }

    /// <summary>A Logout Request for one connection (reason 1 or 2) naming <paramref name="cid"/>, sent on <paramref name="on"/>.</summary>
    private async Task<LogoutResponse> LogoutConnectionAsync(InitiatorConnection on, ushort cid, LogoutReason reason, CancellationToken ct)
    {
        var pdu = PduPool.Rent();
        pdu.Opcode = IscsiOpcode.LogoutRequest;
        pdu.Immediate = true;
        pdu.Flags = (byte)(0x80 | (byte)reason);
        pdu.InitiatorTaskTag = _table.AllocateTag();
        pdu.Bhs[20] = (byte)(cid >> 8);
        pdu.Bhs[21] = (byte)cid;
        var reply = await ExchangeAsync(on, pdu, _options.ManagementTimeout, "Logout Request", ct).ConfigureAwait(false);
        var response = (LogoutResponse)reply.Bhs[2];
        PduPool.Return(reply);
        return response;
    }
}
