using System.Text.RegularExpressions;
using Iser.Tests.Peers;

namespace Iser.Tests.IserTransport;

/// <summary>
/// Finds an iscsi-test-cu whose iSER transport can run the conformance suite. Debian 12's libiscsi 1.19.0 cannot:
/// iscsi_destroy_context frees the context while its iSER connection-manager thread still writes into it
/// (valgrind in the lab: "Invalid write ... rdma_get_cm_event ... block free'd by iscsi_destroy_context"), and
/// iscsi-test-cu destroys and creates a context around every suite, so the next login aborts with
/// "munmap_chunk(): invalid pointer" or a segmentation fault before any test runs; its sync loop also fails a
/// connection after one idle second ("revents is not POLLIN"). libiscsi 1.20 carries upstream fixes for both (iser.c: CM channel
/// destroyed on release, idle poll ticks handled). native/lab/libiscsi-trixie.sh (run by .ci/run) unpacks Debian 13's
/// libiscsi 1.20 into <see cref="DefaultPrefix"/>, with wrappers in its bin/ that run each tool on trixie's own libc;
/// <see cref="PrefixVariable"/> points elsewhere (a folder with bin/iscsi-test-cu).
/// </summary>
public static partial class IserCapableLibiscsi
{
    public const string PrefixVariable = "ISER_LIBISCSI_PREFIX";

    /// <summary>Where native/lab/libiscsi-trixie.sh puts Debian 13's libiscsi by default: .lab-cache/libiscsi-trixie.</summary>
    public static string? DefaultPrefix => IserCli.RepositoryRoot is { } root ? Path.Combine(root, ".lab-cache", "libiscsi-trixie") : null;

    /// <summary>The prefix from <see cref="PrefixVariable"/>, else <see cref="DefaultPrefix"/> when it holds iscsi-test-cu, else null.</summary>
    public static string? Prefix =>
        Environment.GetEnvironmentVariable(PrefixVariable) is { Length: > 0 } prefix ? prefix :
        DefaultPrefix is { } unpacked && File.Exists(Path.Combine(unpacked, "bin", "iscsi-test-cu")) ? unpacked : null;

    /// <summary>The iscsi-test-cu to run, or null with <see cref="UnusableReason"/> saying why.</summary>
    public static string? TestCu
    {
        get
        {
            if (Prefix is { } prefix)
                return File.Exists(Path.Combine(prefix, "bin", "iscsi-test-cu")) ? Path.Combine(prefix, "bin", "iscsi-test-cu") : null;
            return SystemVersion is { } version && version >= new Version(1, 20) ? PeerTools.Find("iscsi-test-cu") : null;
        }
    }

    /// <summary>Environment for running <see cref="TestCu"/>: its own shared library first.</summary>
    public static IReadOnlyDictionary<string, string> RunEnvironment => Prefix is { } prefix
        ? new Dictionary<string, string> { ["LD_LIBRARY_PATH"] = Path.Combine(prefix, "lib") }
        : new Dictionary<string, string>();

    /// <summary>Null when <see cref="TestCu"/> is usable, else why the iSER conformance run is skipped.</summary>
    public static string? UnusableReason
    {
        get
        {
            if (Prefix is { } prefix)
                return TestCu is null ? $"{PrefixVariable}={prefix} has no bin/iscsi-test-cu." : null;
            if (PeerTools.Find("iscsi-test-cu") is null)
                return $"iscsi-test-cu is not installed (Debian package '{PeerTools.LibiscsiPackage}') and {PrefixVariable} is not set.";
            if (SystemVersion is not { } version || version < new Version(1, 20))
                return $"the installed libiscsi ({SystemVersion?.ToString() ?? "version unknown"}) crashes in iscsi-test-cu over iSER " +
                    "(use-after-free of its connection-manager thread, fixed in 1.20); native/lab/libiscsi-trixie.sh unpacks " +
                    $"Debian 13's 1.20 where these tests find it, or set {PrefixVariable} to a libiscsi 1.20+ installation.";
            return null;
        }
    }

    /// <summary>The Debian libiscsi7 package version (upstream part), from dpkg's status file.</summary>
    public static Version? SystemVersion
    {
        get
        {
            const string status = "/var/lib/dpkg/status";
            if (!File.Exists(status))
                return null;
            return ParseLibiscsi7Version(File.ReadAllText(status));
        }
    }

    /// <summary>The upstream version of the libiscsi7 entry in dpkg's status text ("1.19.0-3" gives 1.19.0), or null.</summary>
    public static Version? ParseLibiscsi7Version(string dpkgStatus)
    {
        var match = Libiscsi7Version().Match(dpkgStatus.Replace("\r\n", "\n"));
        return match.Success && Version.TryParse(match.Groups[1].Value, out var version) ? version : null;
    }

    [GeneratedRegex(@"^Package: libiscsi7\n(?:[^\n]+\n)*?Version: (?:\d+:)?(\d+\.\d+(?:\.\d+)?)", RegexOptions.Multiline)]
    private static partial Regex Libiscsi7Version();
}

/// <summary>A lab fact that also needs an iscsi-test-cu able to run over iSER (<see cref="IserCapableLibiscsi"/>).</summary>
public sealed class IserConformanceFactAttribute : FactAttribute
{
    public IserConformanceFactAttribute()
    {
        if (new Verbs.LabFactAttribute().Skip is { } noLab)
            Skip = noLab;
        else if (IserCapableLibiscsi.UnusableReason is { } reason)
            Skip = "needs an iSER-capable libiscsi: " + reason;
    }
}
