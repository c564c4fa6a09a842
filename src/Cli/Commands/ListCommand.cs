using System.CommandLine;
using Iser.Cli.Client;
using Iser.Cli.CommandLine;
using Iser.Core.Iscsi.Initiator;
using Iser.Core.Scsi;
using Iser.Core.Scsi.Initiator;

namespace Iser.Cli.Commands;

/// <summary>
/// `iser ls PORTAL`: every target the portal offers, logged in to in turn, with its LUNs (REPORT LUNS), their device
/// type, vendor/product and size — what `iscsi-ls -s` shows.
/// </summary>
internal static class ListCommand
{
    public static Command Create(CommandConsole console)
    {
        var portal = TypedArguments.Portal();
        var client = new ClientCommandLine();
        var command = new Command("ls", "Targets, LUNs, device types and sizes behind a portal.") { portal };
        client.AddTo(command);
        command.SetAction((parse, ct) => RunAsync(parse.GetValue(portal)!, client.Read(parse), console, ct));
        return command;
    }

    private static async Task<int> RunAsync(IscsiUrl portal, ClientOptions clientOptions, CommandConsole console, CancellationToken ct)
    {
        using var client = clientOptions;

        var transport = client.CreateTransport(portal, console.Error);
        var targets = await IscsiDiscovery.DiscoverAsync(portal.Host, portal.Port, client.SessionOptions(portal), transport, ct).ConfigureAwait(false);
        if (targets.Count == 0)
        {
            console.Error.WriteLine($"The portal {DiscoverCommand.FormatHost(portal.Host)}:{portal.Port} offers no targets to this initiator.");
            return 0;
        }
        int failures = 0;
        foreach (var target in targets)
        {
            string portals = target.Portals.Count == 0
                ? $"{DiscoverCommand.FormatHost(portal.Host)}:{portal.Port}"
                : string.Join(' ', target.Portals.Select(p => $"{DiscoverCommand.FormatHost(p.Host)}:{p.Port},{p.PortalGroupTag}"));
            console.Out.WriteLine($"Target: {target.Name}  Portal: {portals}");
            // Log in through the portal that was asked: it is known to be reachable from here.
            var options = client.SessionOptions(portal with { TargetName = target.Name });
            try
            {
                var session = await IscsiSession.ConnectAsync(options, transport, ct).ConfigureAwait(false);
                await using (session.ConfigureAwait(false))
                {
                    foreach (int lun in await session.ReportLunsAsync(ct).ConfigureAwait(false))
                        console.Out.WriteLine("  " + await DescribeLunAsync(session, lun, ct).ConfigureAwait(false));
                }
            }
            catch (Exception e) when (e is IscsiException or ScsiCommandException or ScsiDataFormatException)
            {
                console.Out.WriteLine($"  (cannot list: {e.Message})");
                failures++;
            }
        }
        return failures == targets.Count ? 1 : 0;
    }

    private static async Task<string> DescribeLunAsync(IscsiSession session, int lunNumber, CancellationToken ct)
    {
        var inquiry = await session.InquiryAsync(lunNumber, ct).ConfigureAwait(false);
        string line = $"Lun: {lunNumber}  Type: {InquiryCommand.DeviceTypeName(inquiry.DeviceType)}  {inquiry.Vendor} {inquiry.Product} {inquiry.Revision}";
        if (inquiry.DeviceType != PeripheralDeviceType.DirectAccessBlock) return line;
        var handle = await session.OpenLunAsync(lunNumber, ct).ConfigureAwait(false);
        return $"{line}  Size: {SizeText.Format(handle.CapacityBytes)} ({handle.BlockCount} blocks of {handle.BlockSize} bytes)";
    }
}
