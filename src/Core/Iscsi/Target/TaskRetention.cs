using Iser.Core.Iscsi.Sessions;

namespace Iser.Core.Iscsi.Target;

/// <summary>
/// ErrorRecoveryLevel 1 at the target (RFC 7143 §6.1, §7): a task whose status has gone out is kept, with its read data
/// and its response, until the initiator's ExpStatSN passes that status. Until then a SNACK or a retried command is
/// answered from here by sending again, never by running the command twice. Released in StatSN order; bounded, so an
/// initiator that never acknowledges cannot make the target hold memory without end (the oldest go first, and a SNACK
/// for one of them is rejected).
/// </summary>
internal sealed class TaskRetention(int capacity)
{
    // Status order is send order: the queue is sorted by StatSN, so an acknowledgement releases from its head.
    private readonly Queue<(TargetTask Task, uint StatSN)> _byStatus = new();
    private readonly Dictionary<uint, TargetTask> _byTag = new();
    private long _bytesHeld;

    public int Count { get { lock (_byTag) return _byTag.Count; } }
    /// <summary>Read data held for possible resending, in bytes.</summary>
    public long BytesHeld => Interlocked.Read(ref _bytesHeld);

    /// <summary>Keeps a task whose status went out; returns the tasks pushed out by the bound (the caller frees them).</summary>
    public void Retain(TargetTask task, List<TargetTask> evicted)
    {
        lock (_byTag)
        {
            if (_byTag.Remove(task.InitiatorTaskTag, out var previous)) evicted.Add(previous); // a reused tag acknowledges the old task
            _byTag[task.InitiatorTaskTag] = task;
            _byStatus.Enqueue((task, task.StatSN));
            Interlocked.Add(ref _bytesHeld, task.RetainedDataLength);
            while (_byTag.Count > capacity && _byStatus.TryDequeue(out var oldest))
                if (Forget(oldest.Task, oldest.StatSN)) evicted.Add(oldest.Task);
        }
    }

    /// <summary>The initiator acknowledged every status below <paramref name="expStatSN"/>: those tasks are released.</summary>
    public void Acknowledge(uint expStatSN, List<TargetTask> released)
    {
        lock (_byTag)
        {
            while (_byStatus.TryPeek(out var head) && SerialNumber.LessThan(head.StatSN, expStatSN))
            {
                _byStatus.Dequeue();
                if (Forget(head.Task, head.StatSN)) released.Add(head.Task);
            }
        }
    }

    /// <summary>The retained task with this tag, if any (a retry or a Data SNACK names it).</summary>
    public TargetTask? Find(uint itt)
    {
        lock (_byTag) return _byTag.GetValueOrDefault(itt);
    }

    /// <summary>A new command reuses <paramref name="itt"/>: the old task it named is acknowledged; returns it to free.</summary>
    public TargetTask? Supersede(uint itt)
    {
        lock (_byTag)
        {
            if (!_byTag.TryGetValue(itt, out var task)) return null;
            return Forget(task, task.StatSN) ? task : null;
        }
    }

    /// <summary>The retained tasks whose status StatSN is in [<paramref name="from"/>, <paramref name="to"/>), in StatSN order.</summary>
    public List<TargetTask> WithStatusIn(uint from, uint to)
    {
        var found = new List<TargetTask>();
        lock (_byTag)
        {
            foreach (var (task, statSN) in _byStatus)
                if (IsCurrent(task, statSN) && SerialNumber.GreaterOrEqual(statSN, from) && SerialNumber.LessThan(statSN, to))
                    found.Add(task);
        }
        return found;
    }

    /// <summary>Every kept task, in StatSN order.</summary>
    public List<TargetTask> All()
    {
        var found = new List<TargetTask>();
        lock (_byTag)
            foreach (var (task, statSN) in _byStatus)
                if (IsCurrent(task, statSN)) found.Add(task);
        return found;
    }

    /// <summary>Empties the table (the connection ends); the caller frees what it returns.</summary>
    public List<TargetTask> Clear()
    {
        lock (_byTag)
        {
            var all = new List<TargetTask>(_byTag.Values);
            _byTag.Clear();
            _byStatus.Clear();
            Interlocked.Exchange(ref _bytesHeld, 0);
            return all;
        }
    }

    // Under the lock. The status queue may still name a task already forgotten (superseded, and perhaps pooled and
    // retained again under another status): an entry counts only while the tag maps to that task with that StatSN.
    private bool IsCurrent(TargetTask task, uint statSN) =>
        task.StatSN == statSN && _byTag.TryGetValue(task.InitiatorTaskTag, out var t) && ReferenceEquals(t, task);

    private bool Forget(TargetTask task, uint statSN)
    {
        if (!IsCurrent(task, statSN)) return false;
        _byTag.Remove(task.InitiatorTaskTag);
        Interlocked.Add(ref _bytesHeld, -task.RetainedDataLength);
        return true;
    }
}
