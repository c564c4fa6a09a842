namespace Iser.Transport.Iser.Datamover;

/// <summary>
/// A connection's place on shared resources: its CQ worker (by qp_num), the CQ entries it reserved there, and its use
/// of the resources (counted when they handed it its queues). Disposing takes it off the worker (waiting for a batch in
/// progress); <see cref="Release"/>, once its QP is destroyed, lets the resources go if it was the last user.
/// </summary>
internal sealed class SharedCompletions : IDisposable
{
    private readonly uint _qpNumber;
    private readonly int _entries;
    private int _removed;
    private int _released;
    private int _busyPoll;

    public SharedCompletions(ISharedDeviceResources owner, CompletionWorker worker, uint qpNumber, int entries)
    {
        Owner = owner;
        Worker = worker;
        _qpNumber = qpNumber;
        _entries = entries;
    }

    public ISharedDeviceResources Owner { get; }

    public SharedConnectionQueues Queues => Owner.Queues;

    public CompletionWorker Worker { get; }

    /// <summary>Asks the worker to spin on its CQ while this connection is on it (once).</summary>
    public void RequestBusyPoll()
    {
        if (Interlocked.Exchange(ref _busyPoll, 1) == 0) Worker.RequestBusyPoll(true);
    }

    /// <summary>No completion reaches the connection after this returns.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _removed, 1) != 0) return;
        if (Interlocked.Exchange(ref _busyPoll, 0) != 0) Worker.RequestBusyPoll(false);
        Worker.Remove(_qpNumber, _entries);
    }

    /// <summary>After the QP is gone: the connection no longer needs the SRQ, CQ or PD.</summary>
    public void Release()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0) Owner.RemoveUser();
    }
}
