using Iser.Core.Iscsi.Initiator;

namespace Iser.Cli.Client;

/// <summary>A portal given on the command line: host, host:port, [v6]:port, or an iscsi:// URL without target.</summary>
internal static class PortalAddress
{
    public static IscsiUrl Parse(string text)
    {
        string candidate = text.Contains("://", StringComparison.Ordinal) ? text : "iscsi://" + text;
        if (!IscsiUrl.TryParse(candidate, out var url, out var error)) throw new UsageException($"'{text}' is not a portal: {error}");
        return url;
    }

    /// <summary>A URL that names a target (and LUN), for commands that work on one LUN.</summary>
    public static IscsiUrl ParseLunUrl(string text)
    {
        if (!IscsiUrl.TryParse(text, out var url, out var error)) throw new UsageException(error ?? $"'{text}' is not an iSCSI URL.");
        if (url.TargetName is null) throw new UsageException($"'{text}' names no target: expected iscsi://host[:port]/iqn/lun.");
        return url;
    }
}
