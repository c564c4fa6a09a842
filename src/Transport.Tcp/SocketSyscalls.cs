using System.Net.Sockets;
using System.Runtime.InteropServices;
using Iser.Core.Datamover;

namespace Iser.Transport.Tcp;

/// <summary>
/// recv(2), send(2) and poll(2) on a connected socket, called directly (Linux). The runtime's own socket methods would
/// register the socket with its epoll thread at the first asynchronous call and from then on wake that thread for
/// every segment that arrives, then hand the read to a pool worker: two wake-ups per response. A connection read by a
/// thread of its own blocks in recv instead, and its sends never wait (MSG_DONTWAIT): the kernel wakes that one thread.
/// </summary>
internal static partial class SocketSyscalls
{
    private const int MSG_DONTWAIT = 0x40;
    private const int MSG_NOSIGNAL = 0x4000;
    private const int EINTR = 4;
    private const int EAGAIN = 11;
    private const short POLLOUT = 0x4;

    /// <summary>Where these calls exist: Linux (the flag values and errno numbers above are Linux's).</summary>
    public static bool IsSupported => OperatingSystem.IsLinux();

    /// <summary>
    /// Reads into <paramref name="destination"/>: blocks until bytes arrive unless <paramref name="dontWait"/>.
    /// Returns the count, 0 at the peer's close, -1 when <paramref name="dontWait"/> and nothing is there.
    /// </summary>
    public static int Receive(SafeSocketHandle socket, Span<byte> destination, bool dontWait)
    {
        while (true)
        {
            nint n = recv(socket, ref MemoryMarshal.GetReference(destination), (nuint)destination.Length, dontWait ? MSG_DONTWAIT : 0);
            if (n >= 0) return (int)n;
            int errno = Marshal.GetLastPInvokeError();
            if (errno == EINTR) continue;
            if (errno == EAGAIN) return -1;
            throw Failure("reading", errno);
        }
    }

    /// <summary>Writes what the socket takes now, never waiting: the count, or -1 when its buffer is full.</summary>
    public static int TrySend(SafeSocketHandle socket, ReadOnlySpan<byte> source)
    {
        while (true)
        {
            nint n = send(socket, ref MemoryMarshal.GetReference(source), (nuint)source.Length, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n >= 0) return (int)n;
            int errno = Marshal.GetLastPInvokeError();
            if (errno == EINTR) continue;
            if (errno == EAGAIN) return -1;
            throw Failure("writing", errno);
        }
    }

    /// <summary>
    /// Waits up to <paramref name="timeoutMilliseconds"/> for room to write. True when there is room or the socket
    /// failed (the next send says how).
    /// </summary>
    public static bool WaitWritable(SafeSocketHandle socket, int timeoutMilliseconds)
    {
        bool added = false;
        try
        {
            socket.DangerousAddRef(ref added);
            var fd = new PollFd { Fd = (int)socket.DangerousGetHandle(), Events = POLLOUT };
            int n = poll(ref fd, 1, timeoutMilliseconds);
            if (n < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno == EINTR) return false;
                throw Failure("waiting to write", errno);
            }
            return n > 0;
        }
        finally
        {
            if (added) socket.DangerousRelease();
        }
    }

    private static DatamoverException Failure(string doing, int errno) =>
        new($"Connection lost while {doing}: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno}).");

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint recv(SafeSocketHandle socket, ref byte buffer, nuint length, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint send(SafeSocketHandle socket, ref byte buffer, nuint length, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int poll(ref PollFd fds, nuint count, int timeoutMilliseconds);
}
