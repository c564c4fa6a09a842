using System.Net;

namespace Iser.Hosting;

/// <summary>"HOST:PORT[,TPGT]" as configuration writes a portal: an address (a literal, or a name to resolve) and a group.</summary>
internal static class PortalSpec
{
    public static bool TryParse(string text, out (string Host, int Port, ushort Group) portal, out string? problem)
    {
        portal = default;
        problem = null;
        string address = text;
        ushort group = 1;
        int comma = text.LastIndexOf(',');
        if (comma >= 0)
        {
            if (!ushort.TryParse(text[(comma + 1)..], out group) || group == 0)
            {
                problem = $"'{text}': the portal group tag after the comma must be 1 to 65535.";
                return false;
            }
            address = text[..comma];
        }
        int colon = address.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(address[(colon + 1)..], out int port) || port is < 0 or > 65535)
        {
            problem = $"'{text}' is not HOST:PORT[,TPGT] (e.g. 0.0.0.0:3260 or 127.0.0.1:3260,2).";
            return false;
        }
        portal = (address[..colon].Trim('[', ']'), port, group);
        return true;
    }

    public static IPEndPoint Resolve(string host, int port)
    {
        if (IPAddress.TryParse(host, out var ip)) return new IPEndPoint(ip, port);
        var addresses = Dns.GetHostAddresses(host);
        if (addresses.Length == 0) throw new InvalidOperationException($"The portal host '{host}' does not resolve.");
        return new IPEndPoint(addresses[0], port);
    }
}
