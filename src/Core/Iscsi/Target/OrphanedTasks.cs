using Microsoft.Extensions.Logging;

namespace Iser.Core.Iscsi.Target;

/// <summary>
/// ErrorRecoveryLevel 2 (RFC 7143 §6.2, §7.1.4): the tasks of a connection that failed, held by its session until a
/// TASK REASSIGN on a new connection takes each over, or DefaultTime2Retain runs out. A task keeps running in the
/// logical unit meanwhile; what it produces waits here (<see cref="TargetTask.PendingResult"/>), a write waiting for
/// data waits for its new connection (<see cref="WaitForReassignmentAsync"/>), and one whose status already went
/// out is sent again, whole, on the new connection.
/// <code>
///   Orphan ──TASK REASSIGN──▶ Take: Connection = new one; result ready → respond there; data wanted → asked there
///      └────Time2Retain─────▶ Expire: cancelled in the logical unit, freed
/// </code>
/// </summary>
internal sealed class OrphanedTasks(TimeSpan retain, ILogger logger)
{
    private readonly Dictionary<uint, TargetTask> _tasks = new();
    private bool _expiryScheduled;

    public object Gate => _tasks;

    public int Count { get { lock (_tasks) return _tasks.Count; } }

    /// <summary>Holds a task of a failed connection. <paramref name="resultKnown"/>: its status went (or was going) out.</summary>
    public void Adopt(TargetTask task, bool resultKnown, string remote)
    {
        bool schedule;
        lock (_tasks)
        {
            task.Orphaned = true;
            task.OrphanedResultKnown = resultKnown;
            task.OrphanedTicks = Environment.TickCount64;
            _tasks[task.InitiatorTaskTag] = task;
            schedule = !_expiryScheduled;
            _expiryScheduled = true;
        }
        if (schedule) _ = ExpireAsync(remote);
    }

    /// <summary>TASK REASSIGN: the task with this tag, now allegiant to <paramref name="next"/>; null when none is held.</summary>
    public TargetTask? Take(uint itt, TargetConnection next)
    {
        TaskCompletionSource<TargetConnection>? signal;
        TargetTask? task;
        lock (_tasks)
        {
            if (!_tasks.Remove(itt, out task)) return null;
            task.Orphaned = false;
            task.Connection = next;
            // Still running: its response will claim it from the new connection's table, so it is entered there now,
            // under this lock, before the logical unit can finish it.
            if (task.PendingResult is null && !task.OrphanedResultKnown) next.Tasks.TryAdd(task);
            signal = task.ReassignSignal;
            task.ReassignSignal = null;
        }
        signal?.TrySetResult(next);
        return task;
    }

    /// <summary>
    /// A response (data and status) that was being sent when the connection failed did not get out. Still held: its
    /// reassignment must send it again (not wait for a result that will not come again): true. Already taken over: the
    /// connection it went to, which sends it again now. Neither (never handed over): false and null.
    /// </summary>
    public bool ResponseLost(TargetTask task, TargetConnection from, out TargetConnection? takenOverBy)
    {
        lock (_tasks)
        {
            takenOverBy = null;
            if (task.Orphaned)
            {
                task.OrphanedResultKnown = true;
                task.PendingResult = null;
                return true;
            }
            if (!ReferenceEquals(task.Connection, from) && task.Connection is { IsLive: true } next)
            {
                // Both the failed send and its notification come here: the new connection sends it once.
                if (!task.LostResponseResent) takenOverBy = next;
                task.LostResponseResent = true;
                return true;
            }
            return false;
        }
    }

    /// <summary>
    /// Under <see cref="Gate"/>: the logical unit finished an orphaned task; its result waits for the reassignment.
    /// False when the task is not (or no longer) orphaned: the caller responds on <see cref="TargetTask.Connection"/>.
    /// </summary>
    public bool TryPark(TargetTask task, Scsi.Target.ScsiCommandResult result)
    {
        lock (_tasks)
        {
            if (!task.Orphaned) return false;
            task.PendingResult = result;
            return true;
        }
    }

    /// <summary>
    /// A write whose connection failed while it waited for data: the connection that takes it over. Throws
    /// <see cref="OperationCanceledException"/> when it is not taken over within DefaultTime2Retain or is cancelled.
    /// </summary>
    public async Task<TargetConnection> WaitForReassignmentAsync(TargetTask task, CancellationToken ct)
    {
        TaskCompletionSource<TargetConnection> signal;
        lock (_tasks)
        {
            if (!task.Orphaned && task.Connection is { IsLive: true } live) return live; // already taken over
            signal = task.ReassignSignal ??= new TaskCompletionSource<TargetConnection>(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        return await signal.Task.WaitAsync(retain + TimeSpan.FromSeconds(1), ct).ConfigureAwait(false);
    }

    /// <summary>The session ends: everything held is cancelled and freed.</summary>
    public void Clear() => Expire(all: true, remote: "session end");

    private async Task ExpireAsync(string remote)
    {
        while (true)
        {
            await Task.Delay(retain).ConfigureAwait(false);
            if (!Expire(all: false, remote)) return;
        }
    }

    /// <returns>True while tasks remain (expiry keeps watching).</returns>
    private bool Expire(bool all, string remote)
    {
        var expired = new List<TargetTask>();
        bool remaining;
        lock (_tasks)
        {
            long now = Environment.TickCount64;
            foreach (var task in _tasks.Values)
                if (all || now - task.OrphanedTicks >= retain.TotalMilliseconds) expired.Add(task);
            foreach (var task in expired)
            {
                _tasks.Remove(task.InitiatorTaskTag);
                task.Orphaned = false;
                task.OrphanExpired = true;
            }
            remaining = _tasks.Count > 0;
            if (!remaining) _expiryScheduled = false;
        }
        if (expired.Count > 0)
            logger.LogWarning("{Remote}: {Count} task(s) of a failed connection were not reassigned within DefaultTime2Retain ({Seconds} s); they end",
                remote, expired.Count, retain.TotalSeconds);
        foreach (var task in expired)
        {
            task.ReassignSignal?.TrySetCanceled();
            task.Cancel();
            if (task.PendingResult is not null || task.OrphanedResultKnown) task.Connection?.OnTaskFinished(task);
        }
        return remaining;
    }
}
