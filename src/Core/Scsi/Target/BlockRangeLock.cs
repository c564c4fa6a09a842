namespace Iser.Core.Scsi.Target;

/// <summary>
/// Serialises COMPARE AND WRITE against other writes to the same blocks. Writes take a shared lease on their
/// block range (writes never wait for each other); COMPARE AND WRITE takes an exclusive lease, which waits for
/// overlapping writes to finish and holds overlapping newcomers back until it is done. A lease is a
/// reservation, not a held mutex: the internal monitor is only held for list bookkeeping, never across an await.
/// Waiters are served in arrival order among overlapping ranges.
/// </summary>
internal sealed class BlockRangeLock
{
    private readonly object _gate = new();
    private readonly List<Holder> _held = new();
    private readonly LinkedList<Waiter> _waiters = new();
    private long _nextId;

    private readonly record struct Holder(long Id, long Start, long End, bool Exclusive);

    private sealed class Waiter(long start, long end, bool exclusive)
    {
        public readonly long Start = start, End = end;
        public readonly bool Exclusive = exclusive;
        public readonly TaskCompletionSource<long> Granted = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public LinkedListNode<Waiter>? Node;
    }

    /// <summary>Number of leases currently held (for tests).</summary>
    public int HeldCount { get { lock (_gate) return _held.Count; } }

    /// <summary>Acquires a lease on blocks [<paramref name="start"/>, start + count); dispose the result to release it.</summary>
    public ValueTask<Lease> AcquireAsync(long start, long count, bool exclusive, CancellationToken cancellationToken)
    {
        long end = start + Math.Max(count, 1);
        Waiter waiter;
        lock (_gate)
        {
            if (!ConflictsWithHeld(start, end, exclusive) && !ConflictsWithWaiters(start, end, exclusive, null))
            {
                long id = ++_nextId;
                _held.Add(new Holder(id, start, end, exclusive));
                return new ValueTask<Lease>(new Lease(this, id));
            }
            waiter = new Waiter(start, end, exclusive);
            waiter.Node = _waiters.AddLast(waiter);
        }
        return WaitAsync(waiter, cancellationToken);
    }

    private async ValueTask<Lease> WaitAsync(Waiter waiter, CancellationToken cancellationToken)
    {
        using (cancellationToken.Register(() => Cancel(waiter, cancellationToken)))
        {
            long id = await waiter.Granted.Task.ConfigureAwait(false);
            return new Lease(this, id);
        }
    }

    private void Cancel(Waiter waiter, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (waiter.Node is null) return; // already granted
            _waiters.Remove(waiter.Node);
            waiter.Node = null;
            GrantWaiters(); // the cancelled waiter may have been holding others back
        }
        waiter.Granted.TrySetCanceled(cancellationToken);
    }

    private void Release(long id)
    {
        lock (_gate)
        {
            for (int i = 0; i < _held.Count; i++)
            {
                if (_held[i].Id != id) continue;
                _held.RemoveAt(i);
                break;
            }
            GrantWaiters();
        }
    }

    // Called under _gate. A waiter is granted when it conflicts neither with a holder nor with an earlier waiter.
    private void GrantWaiters()
    {
        var node = _waiters.First;
        while (node is not null)
        {
            var next = node.Next;
            var w = node.Value;
            if (!ConflictsWithHeld(w.Start, w.End, w.Exclusive) && !ConflictsWithWaiters(w.Start, w.End, w.Exclusive, node))
            {
                _waiters.Remove(node);
                w.Node = null;
                long id = ++_nextId;
                _held.Add(new Holder(id, w.Start, w.End, w.Exclusive));
                w.Granted.TrySetResult(id);
            }
            node = next;
        }
    }

    private bool ConflictsWithHeld(long start, long end, bool exclusive)
    {
        foreach (var h in _held)
            if ((exclusive || h.Exclusive) && start < h.End && h.Start < end) return true;
        return false;
    }

    // Conflicts with any waiter queued before `before` (all waiters when null).
    private bool ConflictsWithWaiters(long start, long end, bool exclusive, LinkedListNode<Waiter>? before)
    {
        for (var n = _waiters.First; n is not null && n != before; n = n.Next)
        {
            var w = n.Value;
            if ((exclusive || w.Exclusive) && start < w.End && w.Start < end) return true;
        }
        return false;
    }

    /// <summary>A granted lease; releasing it twice is harmless.</summary>
    public readonly struct Lease(BlockRangeLock owner, long id) : IDisposable
    {
        public void Dispose() => owner?.Release(id);
    }
}
