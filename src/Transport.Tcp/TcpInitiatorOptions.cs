namespace Iser.Transport.Tcp;

/// <summary>How <see cref="TcpInitiatorTransport"/> runs its connections.</summary>
public sealed class TcpInitiatorOptions
{
    /// <summary>
    /// True (the default on Linux): each connection has a thread of its own that sleeps in recv(2) and hands each
    /// response to the session the moment the kernel wakes it, as libiscsi's and open-iscsi's receive paths do; sends
    /// never wait, and a full socket buffer is waited for by a second thread, started only then. The socket is never
    /// registered with the runtime's epoll thread, which would otherwise wake for every segment and pass the read on
    /// to a pool worker: one wake-up per response instead of two (bench/README.md, "Initiator over TCP").
    /// False, and on other systems: the runtime's asynchronous sockets, no thread per connection; the choice for a
    /// process holding thousands of sessions.
    /// </summary>
    public bool ReceiveThread { get; set; } = OperatingSystem.IsLinux();
}
