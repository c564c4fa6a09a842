using System.Collections.Concurrent;
using Iser.Core.Datamover;

namespace Iser.Core.Iscsi.Target;

/// <summary>
/// The tasks of one target connection that are running (accepted, not yet claimed by their response or an abort), by
/// ITT: what task management and a retried command consult. A task leaves it exactly once, either claimed by its
/// response (<see cref="TryClaim"/>) or taken by an abort; the winner decides how it ends. Pooled task objects.
/// </summary>
internal sealed class TargetTaskTable(TargetConnection connection, int poolLimit)
{
    private readonly Dictionary<uint, TargetTask> _tasks = new();
    private readonly ConcurrentQueue<TargetTask> _pool = new();

    public int Count { get { lock (_tasks) return _tasks.Count; } }

    public TargetTask Rent()
    {
        if (!_pool.TryDequeue(out var task)) task = new TargetTask();
        task.Connection = connection;
        return task;
    }

    public void Return(TargetTask task)
    {
        task.ResetForReuse();
        if (_pool.Count < poolLimit) _pool.Enqueue(task);
    }

    /// <summary>Enters a new task; false when its ITT is already running.</summary>
    public bool TryAdd(TargetTask task)
    {
        lock (_tasks) return _tasks.TryAdd(task.InitiatorTaskTag, task);
    }

    public TargetTask? Find(uint itt)
    {
        lock (_tasks) return _tasks.GetValueOrDefault(itt);
    }

    /// <summary>Takes the task out for its response. False when an abort already took it.</summary>
    public bool TryClaim(TargetTask task)
    {
        lock (_tasks)
        {
            if (!_tasks.TryGetValue(task.InitiatorTaskTag, out var t) || !ReferenceEquals(t, task)) return false;
            _tasks.Remove(task.InitiatorTaskTag);
            return true;
        }
    }

    public TargetTask[] Where(Func<TargetTask, bool> predicate)
    {
        lock (_tasks) return _tasks.Values.Where(predicate).ToArray();
    }

    /// <summary>
    /// Aborts tasks and waits (bounded) until each has left the logical unit, so none is freed under it.
    /// A task already claimed by its response is left alone. Returns how many were aborted.
    /// </summary>
    public async Task<int> AbortAsync(TargetTask[] tasks, ITargetDatamover datamover)
    {
        if (tasks.Length == 0) return 0;
        var waits = new List<Task>(tasks.Length);
        foreach (var t in tasks)
        {
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (_tasks)
            {
                if (!_tasks.TryGetValue(t.InitiatorTaskTag, out var live) || !ReferenceEquals(live, t)) continue;
                _tasks.Remove(t.InitiatorTaskTag);
                t.FinishedSignal = done;
                t.Aborted = true;
            }
            waits.Add(done.Task);
            t.Cancel();
            datamover.EndTask(t);
        }
        await Task.WhenAny(Task.WhenAll(waits), Task.Delay(TimeSpan.FromSeconds(30))).ConfigureAwait(false);
        return waits.Count;
    }

    /// <summary>The connection ends: every running task is cancelled and handed to <paramref name="end"/>.</summary>
    public void CancelAll(Action<TargetTask> end)
    {
        TargetTask[] live;
        lock (_tasks) live = [.. _tasks.Values];
        foreach (var t in live)
        {
            t.Cancel();
            end(t);
        }
    }
}
