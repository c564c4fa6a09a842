namespace Iser.Transport.Iser.Datamover;

/// <summary>
/// Who still uses something shared (the listener, its connections): it starts with one user, the owner; once the
/// count reaches zero nobody may join again, and the one whose removal got it there frees the thing.
/// </summary>
internal sealed class UserCount
{
    private int _users = 1; // the owner's

    /// <summary>One more user; false when the last one already left (the thing is freed or being freed).</summary>
    public bool TryAdd()
    {
        int users;
        do
        {
            users = Volatile.Read(ref _users);
            if (users == 0) return false;
        }
        while (Interlocked.CompareExchange(ref _users, users + 1, users) != users);
        return true;
    }

    /// <summary>A user leaves; true for the last one, who frees the thing.</summary>
    public bool Remove() => Interlocked.Decrement(ref _users) == 0;
}
