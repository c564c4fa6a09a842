using Iser.Core.Datamover;
using Iser.Core.Iscsi.Pdus;

namespace Iser.Core.Iscsi.Initiator;

/// <summary>
/// Where one connection's datamover pushes its PDUs: straight into the session's dispatch, on the transport's
/// completion thread. It also times each dispatch while inline continuations are on, so the session can tell a
/// caller that blocked the completion thread (<see cref="CompletionOptions.InlineStallTimeout"/>).
/// </summary>
internal sealed class ConnectionReceiver(IscsiSession session, InitiatorConnection connection) : IPduReceiver
{
    // Environment.TickCount64 when the dispatch now running began; 0 when none runs.
    private long _dispatchStarted;

    /// <summary>Milliseconds the current dispatch has been running at <paramref name="now"/>; 0 when none runs.</summary>
    public long DispatchRunningFor(long now)
    {
        long started = Volatile.Read(ref _dispatchStarted);
        return started == 0 ? 0 : now - started;
    }

    public void OnPduReceived(Pdu pdu)
    {
        if (!session.InlineCompletions)
        {
            session.OnPduReceived(connection, pdu);
            return;
        }
        Volatile.Write(ref _dispatchStarted, Math.Max(1, Environment.TickCount64));
        try
        {
            session.OnPduReceived(connection, pdu);
        }
        finally
        {
            Volatile.Write(ref _dispatchStarted, 0);
        }
    }

    public void OnReceiveEnded(Exception? error) => session.OnReceiveEnded(connection, error);
}
