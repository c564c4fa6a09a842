using Iser.Cli.Client;
using Iser.Core.Iscsi.Initiator;

namespace Iser.Cli.Commands;

/// <summary>
/// `iser discover PORTAL`: SendTargets=All on a discovery session; one line per target portal, in the form
/// `iscsiadm -m discovery` prints (`HOST:PORT,TPGT IQN`), so scripts can reuse what they already parse.
/// </summary>
internal static class DiscoverCommand
{
    public static async Task<int> RunAsync(ArgumentReader args, CommandConsole console, CancellationToken ct)
    {
        using var client = ClientOptions.Read(args);
        var portal = PortalAddress.Parse(SinglePositional(args, "PORTAL"));
        args.EnsureAllUsed();

        var targets = await IscsiDiscovery.DiscoverAsync(portal.Host, portal.Port, client.SessionOptions(portal),
            client.CreateTransport(portal, console.Error), ct).ConfigureAwait(false);
        if (targets.Count == 0)
        {
            console.Error.WriteLine($"The portal {FormatHost(portal.Host)}:{portal.Port} offers no targets to this initiator.");
            return 0;
        }
        foreach (var target in targets)
        {
            // A target listed without TargetAddress is reached through the portal that was asked (RFC 7143 §C).
            if (target.Portals.Count == 0) console.Out.WriteLine($"{FormatHost(portal.Host)}:{portal.Port} {target.Name}");
            foreach (var p in target.Portals) console.Out.WriteLine($"{FormatHost(p.Host)}:{p.Port},{p.PortalGroupTag} {target.Name}");
        }
        return 0;
    }

    internal static string SinglePositional(ArgumentReader args, string what)
    {
        var positionals = args.Positionals();
        if (positionals.Count == 0) throw new UsageException($"{what} is missing.");
        if (positionals.Count > 1) throw new UsageException($"only one {what} is expected, not '{string.Join(' ', positionals)}'.");
        return positionals[0];
    }

    internal static string FormatHost(string host) => host.Contains(':') && !host.StartsWith('[') ? $"[{host}]" : host;
}
