namespace Iser.Transport.Iser.Datamover;

/// <summary>
/// A target connection's place on its listener's shared resources: its CQ worker (by qp_num), the CQ entries it
/// reserved there, and its use of the resources. Disposing takes it off the worker (waiting for a batch in progress);
/// <see cref="Release"/>, once its QP is destroyed, lets the resources go if it was the last user.
/// </summary>
internal sealed class SharedCompletions : IDisposable
{
    private readonly uint _qpNumber;
    private readonly int _entries;
    private int _removed;
    private int _released;

    public SharedCompletions(TargetDeviceResources resources, CompletionWorker worker, uint qpNumber, int entries)
    {
        if (!resources.AddUser())
        {
            worker.Unreserve(entries);
            throw new ObjectDisposedException(nameof(TargetDeviceResources), "The listener's shared iSER resources are already freed.");
        }
        Resources = resources;
        Worker = worker;
        _qpNumber = qpNumber;
        _entries = entries;
    }

    public TargetDeviceResources Resources { get; }

    public CompletionWorker Worker { get; }

    /// <summary>No completion reaches the connection after this returns.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _removed, 1) == 0) Worker.Remove(_qpNumber, _entries);
    }

    /// <summary>After the QP is gone: the connection no longer needs the SRQ, CQ or PD.</summary>
    public void Release()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0) Resources.RemoveUser();
    }
}
