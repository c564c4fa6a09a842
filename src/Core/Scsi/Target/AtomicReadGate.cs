namespace Iser.Core.Scsi.Target;

/// <summary>
/// Keeps READs away from the blocks of a WRITE ATOMIC without making every READ take a range lease. READs normally
/// run unlocked (two interlocked counter updates, no allocation); while an atomic write is admitted they take a
/// shared lease on <see cref="BlockRangeLock"/> instead, which the atomic write's exclusive lease excludes. An atomic
/// write first announces itself, then waits for the unlocked READs already running to drain, so none of them can
/// see half of it. Both sides update their own counter before reading the other's (full fences), so at least one
/// of them always sees the other.
/// </summary>
internal sealed class AtomicReadGate
{
    private int _unlockedReads;
    private int _atomicWrites;

    /// <summary>True: read without a lease and call <see cref="ExitUnlocked"/> after. False: take a shared lease.</summary>
    public bool TryEnterUnlocked()
    {
        Interlocked.Increment(ref _unlockedReads);
        if (Volatile.Read(ref _atomicWrites) == 0) return true;
        Interlocked.Decrement(ref _unlockedReads);
        return false;
    }

    public void ExitUnlocked() => Interlocked.Decrement(ref _unlockedReads);

    /// <summary>Admits an atomic write once no unlocked READ is running; call <see cref="ExitAtomic"/> after.</summary>
    public async ValueTask EnterAtomicAsync(CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _atomicWrites);
        try
        {
            // Unlocked READs still running end soon (one store read each) and no new one starts.
            for (int spins = 0; Volatile.Read(ref _unlockedReads) != 0; spins++)
            {
                if (spins < 16) await Task.Yield();
                else await Task.Delay(1, cancellationToken).ConfigureAwait(false);
            }
        }
        catch
        {
            Interlocked.Decrement(ref _atomicWrites);
            throw;
        }
    }

    public void ExitAtomic() => Interlocked.Decrement(ref _atomicWrites);
}
