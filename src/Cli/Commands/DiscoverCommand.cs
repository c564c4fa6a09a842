using System.CommandLine;
using Iser.Cli.Client;
using Iser.Cli.CommandLine;
using Iser.Core.Iscsi.Initiator;

namespace Iser.Cli.Commands;

/// <summary>
/// `iser discover PORTAL`: SendTargets=All on a discovery session; one line per target portal, in the form
/// `iscsiadm -m discovery` prints (`HOST:PORT,TPGT IQN`), so scripts can reuse what they already parse.
/// </summary>
internal static class DiscoverCommand
{
    public static Command Create(CommandConsole console)
    {
        var portal = TypedArguments.Portal();
        var client = new ClientCommandLine();
        var command = new Command("discover", "Targets and portals a portal offers (SendTargets), one per line as iscsiadm prints them.") { portal };
        client.AddTo(command);
        command.SetAction((parse, ct) => RunAsync(parse.GetValue(portal)!, client.Read(parse), console, ct));
        return command;
    }

    private static async Task<int> RunAsync(IscsiUrl portal, ClientOptions clientOptions, CommandConsole console, CancellationToken ct)
    {
        using var client = clientOptions;

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

    internal static string FormatHost(string host) => host.Contains(':') && !host.StartsWith('[') ? $"[{host}]" : host;
}
