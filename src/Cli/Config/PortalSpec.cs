using System.Globalization;

namespace Iser.Cli.Config;

/// <summary>
/// A portal as `--portal` and the config file's "portals" spell it: HOST[:PORT][,TPGT]. The portal group tag defaults
/// to 1; it is 1 to 65535 (the group's SCSI target port takes it as relative target port identifier, never 0).
/// </summary>
internal readonly record struct PortalSpec(string Address, ushort PortalGroupTag)
{
    public const ushort DefaultPortalGroupTag = 1;

    public static PortalSpec Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        // No IPv4 or IPv6 address or host name holds a comma, so the last one starts the tag.
        int comma = text.LastIndexOf(',');
        if (comma < 0) return new PortalSpec(RequireAddress(text, text), DefaultPortalGroupTag);
        var tag = text[(comma + 1)..].Trim();
        if (!ushort.TryParse(tag, NumberStyles.None, CultureInfo.InvariantCulture, out ushort tpgt) || tpgt == 0)
            throw new UsageException($"portal '{text}': the portal group tag after the comma must be a whole number from 1 to 65535, not '{tag}'.");
        return new PortalSpec(RequireAddress(text[..comma].Trim(), text), tpgt);
    }

    private static string RequireAddress(string address, string text) =>
        address.Length > 0 ? address : throw new UsageException($"portal '{text}': the host is missing (HOST[:PORT][,TPGT]).");
}
