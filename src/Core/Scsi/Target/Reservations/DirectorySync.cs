using System.Runtime.InteropServices;

namespace Iser.Core.Scsi.Target.Reservations;

/// <summary>
/// fsync of a file's directory, which .NET cannot open as a stream: a rename or delete is only durable once the
/// directory entry is on disk. Elsewhere than Linux the rename is left to the file system.
/// </summary>
internal static partial class DirectorySync
{
    // O_RDONLY opens a directory on Linux; O_DIRECTORY is left out because its value differs between x86-64 and arm64.
    private const int O_RDONLY = 0;

    public static void Flush(string filePath)
    {
        if (!OperatingSystem.IsLinux()) return;
        string directory = Path.GetDirectoryName(Path.GetFullPath(filePath)) ?? "/";
        int fd = open(directory, O_RDONLY);
        if (fd < 0) throw Failure("opening", directory);
        try
        {
            if (fsync(fd) != 0) throw Failure("flushing", directory);
        }
        finally
        {
            close(fd);
        }
    }

    private static IOException Failure(string what, string directory) =>
        new($"{char.ToUpperInvariant(what[0])}{what[1..]} directory '{directory}' failed: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}.");

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open(string path, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fsync(int fd);

    [LibraryImport("libc")]
    private static partial int close(int fd);
}
