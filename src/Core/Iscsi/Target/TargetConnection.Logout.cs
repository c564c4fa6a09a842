using Iser.Core.Iscsi.Pdus;
using Microsoft.Extensions.Logging;

namespace Iser.Core.Iscsi.Target;

internal sealed partial class TargetConnection
{
    /// <summary>
    /// Logout (RFC 7143 §11.14): outstanding commands finish first so their responses precede the Logout Response;
    /// then the connection closes once the response is out. Returns false to stop the receive loop.
    /// </summary>
    private bool HandleLogout(Pdu pdu, bool consumesSlot)
    {
        byte reason = (byte)(pdu.Flags & 0x7f);
        uint itt = pdu.InitiatorTaskTag;
        PduPool.Return(pdu);
        if (reason == 2)
        {
            // Removing a connection for recovery (RFC 7143 §11.14.1) needs ErrorRecoveryLevel 2 (response 2 below it). At 2
            // a session has one connection here, and the login that brought this one in already closed the one named
            // and handed its tasks to the session: "CID not found" (response 1) says it is gone.
            SendLogoutResponse(itt, Session!.RecoversConnections ? (byte)1 : (byte)2, close: false);
            if (consumesSlot) Session!.ReleaseSlot();
            return true;
        }
        _logoutCompletion = CompleteLogoutAsync(itt, consumesSlot);
        return false;
    }

    private async Task CompleteLogoutAsync(uint itt, bool consumesSlot)
    {
        var deadline = Environment.TickCount64 + 30_000;
        while (Environment.TickCount64 < deadline)
        {
            if (Tasks.Count == 0) break;
            await Task.Delay(5).ConfigureAwait(false);
        }
        if (consumesSlot) Session!.ReleaseSlot();
        // The session ends with this logout (one connection per session): what its nexus held goes before the
        // response does, so the initiator's next session finds it released.
        _target.ReleaseNexus(Session!);
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
        public void OnPduSent(Pdu pdu, Exception? error) => _ = connection.CloseAsync("logged out");
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
