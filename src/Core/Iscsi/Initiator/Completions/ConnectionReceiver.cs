using Iser.Core.Datamover;
using Iser.Core.Iscsi.Pdus;

namespace Iser.Core.Iscsi.Initiator;

/// <summary>
/// Where one connection's datamover pushes its PDUs: straight into the session's dispatch, on the transport's
/// completion thread. Results of commands go out from here: inline, or batched per read through a
/// <see cref="CompletionLane"/> to the thread pool. It also times each dispatch while inline continuations are on, so
/// the session can tell a caller that blocked the completion thread (<see cref="CompletionOptions.InlineStallTimeout"/>).
/// </summary>
internal sealed class ConnectionReceiver(IscsiSession session, InitiatorConnection connection) : IPduReceiver
{
    // Thread-pool completions batched per read, when the datamover says when a read is done; made at the first one.
    private CompletionLane? _lane;
    private bool _laneEnded;
    private readonly bool _idleIsBounded = connection.Datamover.ReceiveIdleIsBounded;

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
            if (!_idleIsBounded) _lane?.FlushIfHeldTooLong();
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

    /// <summary>
    /// Receive thread: a command's result. Inline continuations run here and now; thread-pool ones join the lane's batch
    /// when the datamover reports its idle moments, else each goes to the pool on its own.
    /// </summary>
    public void Complete(InitiatorTask task, in ScsiResponse response)
    {
        if (!task.PublishesOnThreadPool || !connection.Datamover.ReportsReceiveIdle)
        {
            task.Publish(response);
            return;
        }
        if (_lane is null)
        {
            _lane = new CompletionLane(connection.Datamover);
            CompletionLaneWatchdog.Register(_lane);
        }
        _lane.Defer(task, response);
    }

    public void OnReceiveIdle(bool threadFree) => _lane?.Flush(runHere: threadFree);

    public bool HasIdleWork => _lane?.HasWork ?? false;

    public void OnReceiveEnded(Exception? error)
    {
        if (_lane is { } lane && !_laneEnded)
        {
            _laneEnded = true;
            lane.End();
        }
        session.OnReceiveEnded(connection, error);
    }
}
