using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Iser.Core.Scsi.Target.Stores;

/// <summary>
/// The libc calls .NET does not expose: turning on O_DIRECT for an open descriptor (FileOptions cannot ask
/// for it on Linux), punching holes (fallocate) to release space on discard, and finding them again
/// (lseek SEEK_DATA / SEEK_HOLE) for GET LBA STATUS.
/// </summary>
internal static partial class LinuxFileControl
{
    private const int F_GETFL = 3;
    private const int F_SETFL = 4;
    // O_DIRECT differs by architecture: 0x4000 on x86-64, 0x10000 on arm64 (asm-generic vs arm64's fcntl.h).
    private static readonly int O_DIRECT = RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? 0x10000 : 0x4000;
    private const int FALLOC_FL_KEEP_SIZE = 0x01;
    private const int FALLOC_FL_PUNCH_HOLE = 0x02;
    private const int EOPNOTSUPP = 95;
    private const int ENOSYS = 38;
    private const int ENXIO = 6;
    private const int EINVAL = 22;
    private const int SEEK_DATA = 3;
    private const int SEEK_HOLE = 4;

    public static void EnableDirectIo(SafeFileHandle handle, string path)
    {
        bool added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            int fd = (int)handle.DangerousGetHandle();
            int flags = fcntl(fd, F_GETFL, 0);
            if (flags < 0 || fcntl(fd, F_SETFL, flags | O_DIRECT) < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                throw new IOException($"Direct I/O (O_DIRECT) could not be enabled on '{path}': {Marshal.GetPInvokeErrorMessage(errno)}.");
            }
        }
        finally
        {
            if (added) handle.DangerousRelease();
        }
    }

    /// <summary>Deallocates a range keeping the file size. False when the file system cannot punch holes.</summary>
    public static bool TryPunchHole(SafeFileHandle handle, long offset, long length, string path)
    {
        bool added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            int fd = (int)handle.DangerousGetHandle();
            if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length) == 0) return true;
            int errno = Marshal.GetLastPInvokeError();
            if (errno is EOPNOTSUPP or ENOSYS) return false;
            throw new IOException($"Punching a hole of {length} bytes at offset {offset} in '{path}' failed: {Marshal.GetPInvokeErrorMessage(errno)}.");
        }
        finally
        {
            if (added) handle.DangerousRelease();
        }
    }

    /// <summary>
    /// The data or hole run of the file starting at <paramref name="offset"/>, clipped to <paramref name="size"/>:
    /// (length, true) for data, (length, false) for a hole. Null when the file system cannot tell (no SEEK_DATA):
    /// then everything counts as data. Bytes past the end of a shorter file are a hole (they read as zeros).
    /// </summary>
    public static (long Length, bool Data)? SeekExtent(SafeFileHandle handle, long offset, long size, string path)
    {
        bool added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            int fd = (int)handle.DangerousGetHandle();
            long data = lseek(fd, offset, SEEK_DATA);
            if (data < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno == ENXIO) return (size - offset, false); // no data at or after offset: a hole to the end
                if (errno == EINVAL) return null;                   // SEEK_DATA not supported here
                throw new IOException($"Looking for data at offset {offset} in '{path}' failed: {Marshal.GetPInvokeErrorMessage(errno)}.");
            }
            if (data > offset) return (Math.Min(data, size) - offset, false);
            long hole = lseek(fd, offset, SEEK_HOLE);
            if (hole < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                throw new IOException($"Looking for a hole at offset {offset} in '{path}' failed: {Marshal.GetPInvokeErrorMessage(errno)}.");
            }
            return (Math.Min(hole, size) - offset, true);
        }
        finally
        {
            if (added) handle.DangerousRelease();
        }
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial long lseek(int fd, long offset, int whence);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fcntl(int fd, int cmd, int arg);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fallocate(int fd, int mode, long offset, long length);
}
