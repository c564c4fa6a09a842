using System.Collections.Concurrent;
using Iser.Core.Iscsi.Pdus;

namespace Iser.Core.Iscsi.Initiator;

/// <summary>
/// The session's outstanding work by initiator task tag: SCSI commands (<see cref="InitiatorTask"/>, pooled) and
/// control exchanges (a waiter for the PDU that answers a NOP-Out, Text, Task Management or Logout request), the
/// ITT allocator over both, and the failure that closes the table for good.
/// <para>
/// <see cref="Gate"/> is the one lock that guards a task's connection, generation and completion claim: whoever reads
/// a task and acts on it (claims its response, fails it, re-issues it) does so under it, so a task cannot be reset
/// and reused in between. Nothing under it awaits, sends, or runs a caller's code (completions are published after).
/// </para>
/// </summary>
internal sealed class InitiatorTaskTable
{
    /// <summary>ITT of the keep-alive NOP-Out; never handed to a command.</summary>
    public const uint KeepAliveTag = 0xfffffffe;
    private const int PoolLimit = 1024;

    private readonly Dictionary<uint, InitiatorTask> _tasks = new();
    // Requests answered by one PDU (NOP-Out, TMF, Text, Logout), with the connection that carries them.
    private readonly Dictionary<uint, (TaskCompletionSource<Pdu> Waiter, InitiatorConnection Connection)> _exchanges = new();
    private readonly ConcurrentQueue<InitiatorTask> _pool = new();
    private readonly IscsiSession _session;
    private uint _nextItt;
    private Exception? _failure;

    public InitiatorTaskTable(IscsiSession session) => _session = session;

    public object Gate { get; } = new();

    /// <summary>Why the table was closed (the session ended); null while it is open.</summary>
    public Exception? Failure { get { lock (Gate) return _failure; } }

    public int Count { get { lock (Gate) return _tasks.Count; } }

    public InitiatorTask Rent()
    {
        if (!_pool.TryDequeue(out var task)) task = new InitiatorTask { Session = _session };
        return task;
    }

    /// <summary>Takes a finished task out of the table, if it is still there; returns the connection it was last sent on.</summary>
    public InitiatorConnection? Remove(InitiatorTask task)
    {
        lock (Gate)
        {
            if (_tasks.TryGetValue(task.InitiatorTaskTag, out var t) && ReferenceEquals(t, task)) _tasks.Remove(task.InitiatorTaskTag);
            return task.Connection;
        }
    }

    /// <summary>A removed task back into the pool (after its datamover let go of it).</summary>
    public void Return(InitiatorTask task)
    {
        lock (Gate) task.ResetForReuse();
        if (_pool.Count < PoolLimit) _pool.Enqueue(task);
    }

    /// <summary>Gives the task a tag and enters it; returns its generation. Throws once the session has ended.</summary>
    public int Register(InitiatorTask task)
    {
        lock (Gate)
        {
            if (_failure is not null) throw IscsiSession.Wrap(_failure);
            task.InitiatorTaskTag = AllocateTagLocked();
            _tasks.Add(task.InitiatorTaskTag, task);
            return task.Generation;
        }
    }

    /// <summary>A tag for a control request (or a multi-PDU exchange such as SendTargets).</summary>
    public uint AllocateTag()
    {
        lock (Gate) return AllocateTagLocked();
    }

    private uint AllocateTagLocked()
    {
        while (true)
        {
            uint itt = ++_nextItt;
            if (itt is Pdu.ReservedTag or KeepAliveTag) continue;
            if (_tasks.ContainsKey(itt) || _exchanges.ContainsKey(itt)) continue;
            return itt;
        }
    }

    /// <summary>Under <see cref="Gate"/>: the command with this tag, if it is outstanding.</summary>
    public bool TryGetLocked(uint itt, out InitiatorTask task) => _tasks.TryGetValue(itt, out task!);

    /// <summary>Under <see cref="Gate"/>: every outstanding command (for recovery and the watchdog).</summary>
    public Dictionary<uint, InitiatorTask>.ValueCollection TasksLocked => _tasks.Values;

    /// <summary>Enters the waiter for the PDU answering <paramref name="itt"/>. Throws once the session has ended.</summary>
    public void AddExchange(uint itt, TaskCompletionSource<Pdu> waiter, InitiatorConnection connection)
    {
        lock (Gate)
        {
            if (_failure is not null) throw IscsiSession.Wrap(_failure);
            _exchanges[itt] = (waiter, connection);
        }
    }

    public void RemoveExchange(uint itt)
    {
        lock (Gate) _exchanges.Remove(itt);
    }

    /// <summary>The waiter for <paramref name="itt"/>, taken out of the table; null when its requester gave up.</summary>
    public TaskCompletionSource<Pdu>? TakeExchange(uint itt)
    {
        lock (Gate) return _exchanges.Remove(itt, out var entry) ? entry.Waiter : null;
    }

    /// <summary>Fails every exchange waiting on <paramref name="connection"/> (it is gone; commands wait for recovery instead).</summary>
    public void FailExchanges(InitiatorConnection connection, Exception error)
    {
        List<TaskCompletionSource<Pdu>> waiters = new();
        lock (Gate)
        {
            // Removing the current entry while enumerating is allowed for Dictionary (.NET Core 3.0 and later).
            foreach (var (itt, entry) in _exchanges)
            {
                if (!ReferenceEquals(entry.Connection, connection)) continue;
                waiters.Add(entry.Waiter);
                _exchanges.Remove(itt);
            }
        }
        foreach (var w in waiters) w.TrySetException(error);
    }

    /// <summary>Closes the table: every command and exchange fails with <paramref name="error"/>. False if already closed.</summary>
    public bool Close(Exception error)
    {
        TaskCompletionSource<Pdu>[] waiters;
        lock (Gate)
        {
            if (_failure is not null) return false;
            _failure = error;
            foreach (var task in _tasks.Values) task.TryFail(error);
            waiters = [.. _exchanges.Values.Select(e => e.Waiter)];
            _exchanges.Clear();
        }
        foreach (var w in waiters) w.TrySetException(error);
        return true;
    }
}
