using System.Runtime.InteropServices;

namespace Iser.Transport.Tcp;

/// <summary>
/// The process's limit on open descriptors (RLIMIT_NOFILE): every TCP connection is one, so a target holding thousands
/// of sessions needs its soft limit raised, which any process may do up to its hard limit.
/// </summary>
public static partial class OpenFileLimit
{
    private const int RLIMIT_NOFILE = 7; // Linux

    /// <summary>The soft and hard limits now; null where they cannot be read (not Linux).</summary>
    public static (ulong Soft, ulong Hard)? Current()
    {
        if (!OperatingSystem.IsLinux() || getrlimit(RLIMIT_NOFILE, out var limit) != 0) return null;
        return (limit.Current, limit.Maximum);
    }

    /// <summary>
    /// Raises the soft limit to the hard one. Returns a sentence for the log: what it is now, and when it could not be
    /// raised, why, and how an operator raises the hard limit.
    /// </summary>
    public static string RaiseToHardLimit()
    {
        if (!OperatingSystem.IsLinux()) return "open-file limit left as it is (not Linux)";
        if (getrlimit(RLIMIT_NOFILE, out var limit) != 0)
            return $"open-file limit unknown: getrlimit failed ({Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())})";
        if (limit.Current >= limit.Maximum)
            return $"open-file limit {Describe(limit.Current)} (already the hard limit; raise it with `ulimit -Hn`, LimitNOFILE= in a systemd unit, or limits.conf for more connections)";
        ulong before = limit.Current;
        var raised = new RLimit { Current = limit.Maximum, Maximum = limit.Maximum };
        if (setrlimit(RLIMIT_NOFILE, in raised) != 0)
            return $"open-file limit stays {Describe(before)}: raising it to {Describe(limit.Maximum)} failed ({Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())})";
        return $"open-file limit raised from {Describe(before)} to {Describe(limit.Maximum)} (the hard limit)";
    }

    private static string Describe(ulong value) => value == ulong.MaxValue ? "unlimited" : value.ToString(System.Globalization.CultureInfo.InvariantCulture);

    [StructLayout(LayoutKind.Sequential)]
    private struct RLimit
    {
        public ulong Current;
        public ulong Maximum;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int getrlimit(int resource, out RLimit limit);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int setrlimit(int resource, in RLimit limit);
}
