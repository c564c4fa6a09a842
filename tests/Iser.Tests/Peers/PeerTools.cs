namespace Iser.Tests.Peers;

/// <summary>Finds peer programs (tgtd, libiscsi's tools) and says why one is missing.</summary>
public static class PeerTools
{
    // tgtd and tgtadm live in /usr/sbin, which is not on every user's PATH.
    private static readonly string[] ExtraDirectories = { "/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin" };

    public const string TgtdPackage = "tgt";
    public const string LibiscsiPackage = "libiscsi-bin";

    /// <summary>Full path of an executable on PATH (or in the sbin directories), or null.</summary>
    public static string? Find(string name)
    {
        var directories = (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Concat(ExtraDirectories);
        foreach (string directory in directories)
        {
            string candidate = Path.Combine(directory, name);
            if (File.Exists(candidate))
                return candidate;
        }
        return null;
    }

    /// <summary>Full path of a required executable; throws a sentence naming the package when missing.</summary>
    public static string Require(string name, string package) =>
        Find(name) ?? throw new InvalidOperationException(
            $"The program '{name}' was not found on PATH or in /usr/sbin; install the Debian package '{package}'.");

    /// <summary>Null when tgtd and tgtadm are installed, else the reason the tgtd tests are skipped.</summary>
    public static string? TgtdMissingReason =>
        Find("tgtd") is null || Find("tgtadm") is null
            ? $"tgtd/tgtadm are not installed (Debian package '{TgtdPackage}')."
            : null;

    /// <summary>Null when libiscsi's command-line tools are installed, else the reason the tests are skipped.</summary>
    public static string? LibiscsiMissingReason
    {
        get
        {
            string[] missing = LibiscsiTools.ToolNames.Where(t => Find(t) is null).ToArray();
            return missing.Length == 0
                ? null
                : $"libiscsi tools {string.Join(", ", missing)} are not installed (Debian package '{LibiscsiPackage}').";
        }
    }
}
