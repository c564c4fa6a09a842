namespace Iser.Transport.Iser.Datamover;

/// <summary>
/// The reference count that keeps a connection's verbs resources alive: one reference for the open connection
/// itself plus one per posted work request. Each completion (successful or flushed) drops one; closing drops the
/// connection's own. The release action runs exactly once, when the count reaches zero after close — never while
/// the HCA may still touch a buffer. A partial post adds only what was actually posted.
/// </summary>
internal sealed class ConnectionReferences
{
    private readonly Action _release;
    private int _count = 1;
    private int _closed;

    public ConnectionReferences(Action release) => _release = release;

    public int Count => Volatile.Read(ref _count);
    public bool IsClosed => Volatile.Read(ref _closed) != 0;

    /// <summary>Adds references for <paramref name="posted"/> work requests (PostResult.Posted, not what was asked).</summary>
    public void AddPosted(int posted)
    {
        if (posted <= 0) return;
        int now = Interlocked.Add(ref _count, posted);
        if (now - posted <= 0)
            throw new InvalidOperationException("A work request was posted on a connection whose resources were already released.");
    }

    /// <summary>One work request completed (any status, flush errors included).</summary>
    public void CompletionArrived() => Drop();

    /// <summary>Drops the connection's own reference (once); resources go when the last work request has completed.</summary>
    public void Close()
    {
        if (Interlocked.Exchange(ref _closed, 1) == 0) Drop();
    }

    private void Drop()
    {
        int now = Interlocked.Decrement(ref _count);
        if (now == 0) _release();
        else if (now < 0) throw new InvalidOperationException("More completions than posted work requests: the reference count went negative.");
    }
}
