namespace Iser.Core.Iscsi.Text;

/// <summary>One network portal of a target: address, TCP port and the Target Portal Group Tag it belongs to.</summary>
public sealed record TargetPortal(string Host, int Port, ushort PortalGroupTag)
{
    /// <summary>The RFC 7143 TargetAddress value: <c>host:port,tpgt</c>, IPv6 literals in brackets.</summary>
    public string ToTargetAddress()
    {
        string host = Host.Contains(':') && !Host.StartsWith('[') ? $"[{Host}]" : Host;
        return $"{host}:{Port},{PortalGroupTag}";
    }
}

/// <summary>A target an initiator is allowed to see in discovery, with the portals it is reachable on.</summary>
public sealed record DiscoverableTarget(string Name, IReadOnlyList<TargetPortal> Portals);
