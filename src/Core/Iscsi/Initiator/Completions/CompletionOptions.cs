namespace Iser.Core.Iscsi.Initiator;

/// <summary>
/// Where a command's completion runs. The transport always hands each received PDU to the session on the thread
/// that reaped it (the iSER CQ poller, the TCP socket receive), which finds the command and completes it there; these
/// options decide what happens next.
/// </summary>
public sealed class CompletionOptions
{
    /// <summary>
    /// False (the default): the caller's continuation never runs on a thread that is reading the connection, with no
    /// hand-off on the way to it: the commands answered by one read (one socket read, one completion-queue batch) are
    /// completed together, in order, with the sends they issue held so they leave together (<see cref="CompletionLane"/>),
    /// by the thread that read them once a partner thread reads in its place (<see cref="Iser.Core.Threading.TurnRelay"/>), or
    /// by one thread-pool work item when the partner is still busy. A continuation that blocks there holds the rest of
    /// its batch for at most <see cref="CompletionLane.StallLimitMilliseconds"/> (then they move to the thread pool)
    /// and never the reads.
    /// True: it runs at once on the completion thread, no hand-off at all. The continuation then owns that thread, and
    /// every later completion of the connection waits for it (over iSER, of every connection whose CQ that thread polls:
    /// by default the process's initiator connections on a device share a few CQ threads), so opting in forbids
    /// blocking in it: no
    /// <c>Task.Wait()</c>, <c>.Result</c>, <c>Thread.Sleep</c>, synchronous file or network I/O, lock waits or long
    /// computation after an <c>await</c> on this session; await, or hand the work to the thread pool yourself.
    /// A continuation that blocks anyway is caught by <see cref="InlineStallTimeout"/>.
    /// </summary>
    public bool Inline { get; set; }

    /// <summary>
    /// True: the transport spins on its completion source instead of sleeping (iSER polls the completion queue without
    /// arming it; TCP reads a non-blocking socket in a tight loop on a thread of its own), as SPDK's pollers and
    /// io_uring's SQPOLL do. Lowest latency, at the price of one core busy for as long as each connection lives,
    /// idle or not (over iSER, the CQ thread a connection shares spins while any of its connections asks for it).
    /// </summary>
    public bool BusyPoll { get; set; }

    /// <summary>
    /// With <see cref="Inline"/>: a continuation that holds the completion thread this long is taken to be blocked.
    /// The session logs why, drops the stalled connection, logs in again (recovery re-issues every unanswered
    /// command, so a caller blocked on one of them is released), and runs later completions on the thread pool.
    /// Zero turns the guard off.
    /// </summary>
    public TimeSpan InlineStallTimeout { get; set; } = TimeSpan.FromSeconds(5);

    internal CompletionOptions Clone() => (CompletionOptions)MemberwiseClone();
}
