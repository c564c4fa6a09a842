using Iser.Core.Iscsi.Pdus;
using Microsoft.Extensions.Logging;

namespace Iser.Core.Iscsi.Target;

internal sealed partial class TargetConnection
{
    /// <summary>
    /// Logout (RFC 7143 §11.14): outstanding commands finish first so their responses precede the Logout Response;
    /// then the connection closes once the response is out. Returns false to stop the receive loop.
    /// <list type="bullet">
    /// <item>reason 0, close the session: every connection of the session, after all its commands;</item>
    /// <item>reason 1, close the connection named by the CID: this one, or another (which closes, its tasks ending);</item>
    /// <item>reason 2, remove the connection for recovery (ERL 2 only): the one named hands its tasks to the session
    /// for TASK REASSIGN; "CID not found" when it is already gone.</item>
    /// </list>
    /// </summary>
    private bool HandleLogout(Pdu pdu, bool consumesSlot)
    {
        byte reason = (byte)(pdu.Flags & 0x7f);
        uint itt = pdu.InitiatorTaskTag;
        ushort cid = (ushort)((pdu.Bhs[20] << 8) | pdu.Bhs[21]);
        PduPool.Return(pdu);
        var session = Session!;
        if (reason == 2 && !session.RecoversConnections)
        {
            SendLogoutResponse(itt, 2, close: false); // connection recovery is not supported
            if (consumesSlot) session.ReleaseSlot();
            return true;
        }
        if (reason is 1 or 2 && cid != Cid)
        {
            var named = session.FindConnection(cid);
            _ = CloseOtherAsync(named, itt, consumesSlot, forRecovery: reason == 2);
            return true;
        }
        if (reason == 2) _forRecovery = true; // this connection hands its tasks over as it closes
        _logoutCompletion = CompleteLogoutAsync(itt, consumesSlot, wholeSession: reason == 0);
        return false;
    }

    /// <summary>Logout of another connection of the session (reason 1 or 2 naming its CID).</summary>
    private async Task CloseOtherAsync(TargetConnection? named, uint itt, bool consumesSlot, bool forRecovery)
    {
        if (named is not null)
        {
            _logger.LogInformation("{Remote}: logging out connection {Cid} of session {Session}{Recovery}", Datamover.RemoteEndPoint,
                named.Cid, Session!.Describe(), forRecovery ? " for recovery" : "");
            await named.CloseAsync(forRecovery ? "removed for recovery by a logout on another connection" : "logged out from another connection",
                handOverTasks: forRecovery).ConfigureAwait(false);
            await named.Finished.ConfigureAwait(false);
        }
        if (consumesSlot) Session!.ReleaseSlot();
        SendLogoutResponse(itt, named is null ? (byte)1 : (byte)0, close: false); // 1: CID not found
    }

    private async Task CompleteLogoutAsync(uint itt, bool consumesSlot, bool wholeSession)
    {
        var session = Session!;
        var deadline = Environment.TickCount64 + 30_000;
        // A connection closed meanwhile (peer gone, reinstated, target stopping) ends its tasks in its shutdown: no waiting.
        while (Environment.TickCount64 < deadline && !_forRecovery && !_closing.IsCancellationRequested && !_target.IsStopping)
        {
            if (wholeSession ? session.Connections.All(c => c.Tasks.Count == 0) : Tasks.Count == 0) break;
            await Task.Delay(5).ConfigureAwait(false);
        }
        if (consumesSlot) session.ReleaseSlot();
        bool sessionEnds = wholeSession || (!_forRecovery && session.ConnectionCount <= 1);
        if (wholeSession)
            foreach (var other in session.Connections)
                if (!ReferenceEquals(other, this)) await other.CloseAsync("the session logged out").ConfigureAwait(false);
        // The session ends with this logout: what its nexus held goes before the response does, so the initiator's
        // next session finds it released.
        if (sessionEnds) _target.ReleaseNexus(session);
        SendLogoutResponse(itt, 0, close: true);
    }

    private void SendLogoutResponse(uint itt, byte response, bool close)
    {
        var reply = PduPool.Rent();
        reply.Opcode = IscsiOpcode.LogoutResponse;
        reply.Flags = 0x80;
        reply.Bhs[2] = response;
        reply.InitiatorTaskTag = itt;
        if (close) reply.SentNotification = new CloseAfterSend(this);
        Send(reply);
    }

    private sealed class CloseAfterSend(TargetConnection connection) : IPduSentNotification
    {
        public void OnPduSent(Pdu pdu, Exception? error) =>
            _ = connection.CloseAsync(connection._forRecovery ? "logged out for recovery" : "logged out", handOverTasks: connection._forRecovery);
    }

    /// <summary>Asks the initiator to log out (Async Message, AsyncEvent 1), used at shutdown.</summary>
    public void RequestLogout()
    {
        if (Session is null) return;
        var message = PduPool.Rent();
        message.Opcode = IscsiOpcode.AsyncMessage;
        message.Flags = 0x80;
        message.InitiatorTaskTag = Pdu.ReservedTag;
        message.Field20 = Pdu.ReservedTag;
        message.Bhs[36] = 1; // target requests logout
        int seconds = (int)Math.Max(1, Options.LogoutGracePeriod.TotalSeconds);
        message.Bhs[42] = (byte)(seconds >> 8); // Parameter3: time to logout
        message.Bhs[43] = (byte)seconds;
        Send(message);
    }

}
