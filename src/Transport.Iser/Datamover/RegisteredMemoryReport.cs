namespace Iser.Transport.Iser.Datamover;

/// <summary>
/// One connection's share of <see cref="IserConnectionCounters.RegisteredBytes"/>: what it last reported, so the
/// process-wide figure follows its pools as they grow and drops by exactly that share when it is freed.
/// </summary>
internal sealed class RegisteredMemoryReport
{
    private long _reported;

    /// <summary>The connection holds <paramref name="bytes"/> registered now.</summary>
    public void Update(long bytes) => IserConnectionCounters.Registered(bytes - Interlocked.Exchange(ref _reported, bytes));

    /// <summary>Only when the pools may have grown since the last report (cheap on the data path).</summary>
    public void UpdateIfGrown(long bytes)
    {
        if (Volatile.Read(ref _reported) < bytes) Update(bytes);
    }

    /// <summary>Freed: the connection's share leaves the process-wide figure.</summary>
    public void Withdraw() => IserConnectionCounters.Registered(-Interlocked.Exchange(ref _reported, 0));
}
