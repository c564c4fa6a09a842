using System.Runtime.InteropServices;

namespace Iser.Transport.Iser.Verbs.Native;

/// <summary>poll(2), used to wait on completion-channel and rdma_cm event fds with a timeout so waiting threads can stop.</summary>
internal static unsafe partial class LibC
{
    internal const short PollIn = 0x001;
    internal const int EIntr = 4;
    internal const int EAgain = 11;
    internal const int ETimedOut = 110;

    static LibC() => NativeLibraries.EnsureResolverRegistered();

    [StructLayout(LayoutKind.Sequential)]
    internal struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport(NativeLibraries.LibC, SetLastError = true)]
    internal static partial int poll(PollFd* fds, nuint count, int timeoutMs);

    /// <summary>Waits until fd is readable. True when readable, false on timeout; throws on poll errors other than EINTR.</summary>
    internal static bool WaitReadable(int fd, int timeoutMs)
    {
        PollFd pfd = new() { Fd = fd, Events = PollIn };
        while (true)
        {
            int rc = poll(&pfd, 1, timeoutMs);
            if (rc > 0)
            {
                return true;
            }

            if (rc == 0)
            {
                return false;
            }

            int errno = Marshal.GetLastPInvokeError();
            if (errno != EIntr)
            {
                throw new VerbsException("poll", errno);
            }
        }
    }
}
