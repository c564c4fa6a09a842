using Iser.Core.Iscsi.Text;

namespace Iser.Core.Iscsi.Initiator;

/// <summary>The text of a SendTargets answer (RFC 7143 Appendix C): TargetName keys, each followed by its TargetAddress keys.</summary>
public static class SendTargetsText
{
    public static List<DiscoverableTarget> Parse(List<TextKeyValue> pairs, int defaultPort)
    {
        var targets = new List<DiscoverableTarget>();
        string? name = null;
        List<TargetPortal>? portals = null;
        foreach (var pair in pairs)
        {
            if (pair.Key == KeyNames.TargetName)
            {
                if (name is not null) targets.Add(new DiscoverableTarget(name, portals!));
                name = pair.Value;
                portals = new List<TargetPortal>();
            }
            else if (pair.Key == KeyNames.TargetAddress && portals is not null && TryParseTargetAddress(pair.Value, defaultPort, out var portal))
                portals.Add(portal);
        }
        if (name is not null) targets.Add(new DiscoverableTarget(name, portals!));
        return targets;
    }

    /// <summary>Parses a TargetAddress value: <c>host[:port][,tpgt]</c>, IPv6 in brackets.</summary>
    public static bool TryParseTargetAddress(string value, int defaultPort, out TargetPortal portal)
    {
        portal = null!;
        ushort tag = 1;
        int comma = value.LastIndexOf(',');
        string address = value;
        if (comma >= 0 && (value.LastIndexOf(']') < comma))
        {
            if (!ushort.TryParse(value.AsSpan(comma + 1), out tag)) return false;
            address = value[..comma];
        }
        string host;
        int port = defaultPort;
        if (address.StartsWith('['))
        {
            int close = address.IndexOf(']');
            if (close < 0) return false;
            host = address[1..close];
            if (close + 1 < address.Length && (address[close + 1] != ':' || !int.TryParse(address.AsSpan(close + 2), out port))) return false;
        }
        else
        {
            int colon = address.LastIndexOf(':');
            if (colon >= 0 && address.IndexOf(':') == colon)
            {
                if (!int.TryParse(address.AsSpan(colon + 1), out port)) return false;
                host = address[..colon];
            }
            else host = address;
        }
        if (host.Length == 0 || port is < 1 or > 65535) return false;
        portal = new TargetPortal(host, port, tag);
        return true;
    }
}
