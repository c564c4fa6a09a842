using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Iser.Hosting;

/// <summary>
/// A portal as configuration, `iser target --portal` and its config file spell it: HOST[:PORT][,TPGT]. HOST is an IPv4
/// address, an IPv6 address (in brackets when a port follows) or a name resolved at start; PORT defaults to 3260 (0:
/// the system chooses); the portal group tag TPGT defaults to 1 and is 1 to 65535 (the group's SCSI target port takes
/// it as relative target port identifier, never 0).
/// </summary>
public readonly record struct PortalSpec(string Host, int Port, ushort PortalGroupTag)
{
    public const int DefaultPort = 3260;
    public const ushort DefaultPortalGroupTag = 1;

    /// <summary>The portal, or a <see cref="FormatException"/> saying what is wrong with <paramref name="text"/>.</summary>
    public static PortalSpec Parse(string text) =>
        TryParse(text, out var portal, out var problem) ? portal : throw new FormatException(problem);

    /// <summary>False with <paramref name="problem"/> in words (quoting <paramref name="text"/>) when it is not a portal.</summary>
    public static bool TryParse(string text, out PortalSpec portal, out string? problem)
    {
        ArgumentNullException.ThrowIfNull(text);
        portal = default;
        problem = null;
        string address = text.Trim();
        ushort tag = DefaultPortalGroupTag;
        // No address or host name holds a comma, so the last one starts the tag.
        int comma = address.LastIndexOf(',');
        if (comma >= 0)
        {
            var tagText = address[(comma + 1)..].Trim();
            if (!ushort.TryParse(tagText, NumberStyles.None, CultureInfo.InvariantCulture, out tag) || tag == 0)
            {
                problem = $"'{text}': the portal group tag after the comma must be a whole number from 1 to 65535, not '{tagText}'.";
                return false;
            }
            address = address[..comma].Trim();
        }
        if (address.Length == 0)
        {
            problem = $"'{text}': the host is missing (HOST[:PORT][,TPGT]).";
            return false;
        }
        if (!TrySplit(address, out var host, out int port))
        {
            problem = $"'{text}' is not HOST[:PORT][,TPGT] (e.g. 0.0.0.0:3260, [::1]:3260 or 127.0.0.1:3260,2).";
            return false;
        }
        portal = new PortalSpec(host, port, tag);
        return true;
    }

    /// <summary>The address to listen on: a literal as it is, a name resolved now (its first address).</summary>
    public IPEndPoint Resolve()
    {
        if (IPAddress.TryParse(Host, out var ip)) return new IPEndPoint(ip, Port);
        IPAddress[] addresses;
        try
        {
            addresses = Dns.GetHostAddresses(Host);
        }
        catch (SocketException e)
        {
            throw new InvalidOperationException($"The portal host '{Host}' does not resolve: {e.Message}", e);
        }
        if (addresses.Length == 0) throw new InvalidOperationException($"The portal host '{Host}' does not resolve.");
        return new IPEndPoint(addresses[0], Port);
    }

    private static bool TrySplit(string address, out string host, out int port)
    {
        host = address;
        port = DefaultPort;
        if (address.StartsWith('['))
        {
            int close = address.IndexOf(']');
            if (close < 0 || !IPAddress.TryParse(address[1..close], out _)) return false;
            host = address[1..close];
            var rest = address[(close + 1)..];
            return rest.Length == 0 || (rest[0] == ':' && TryPort(rest[1..], out port));
        }
        // A bare IPv6 address holds colons of its own: without brackets it carries no port.
        if (IPAddress.TryParse(address, out var ip) && ip.AddressFamily == AddressFamily.InterNetworkV6) return true;
        int colon = address.LastIndexOf(':');
        if (colon < 0) return true;
        host = address[..colon];
        return host.Length > 0 && TryPort(address[(colon + 1)..], out port);
    }

    private static bool TryPort(string text, out int port) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out port) && port <= 65535;
}
