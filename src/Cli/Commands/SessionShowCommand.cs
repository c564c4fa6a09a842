using System.Globalization;
using System.CommandLine;
using Iser.Cli.Client;
using Iser.Cli.CommandLine;
using Iser.Core.Iscsi.Initiator;

namespace Iser.Cli.Commands;

/// <summary>
/// `iser session show URL`: logs in, prints what the login settled — every key with what was requested, what the
/// other side answered, the result and who proposed it — plus identities, authentication, ISID/TSIH, the CmdSN
/// window, digests, timeouts and the transport; then logs out. This is the view `iscsiadm -m session -P 3` lacks:
/// it shows only the results, not what was asked for.
/// </summary>
internal static class SessionShowCommand
{
    /// <summary>`iser session`, whose one subcommand is `show`.</summary>
    public static Command Create(CommandConsole console)
    {
        var urlArgument = TypedArguments.LunUrl();
        var client = new ClientCommandLine();
        var show = new Command("show", "Log in and show each key: requested vs negotiated, who proposed it, and the timeouts.") { urlArgument };
        client.AddTo(show);
        show.SetAction((parse, ct) => RunAsync(parse.GetValue(urlArgument)!, client.Read(parse), console, ct));
        return new Command("session", "Sessions: 'iser session show URL'.") { show };
    }

    private static async Task<int> RunAsync(IscsiUrl url, ClientOptions clientOptions, CommandConsole console, CancellationToken ct)
    {
        using var client = clientOptions;

        var options = client.SessionOptions(url);
        var transport = new LoginObservingTransport(client.CreateTransport(url, console.Error));
        var session = await ClientConnection.ConnectAsync(options, transport, ct).ConfigureAwait(false);
        await using (session.ConfigureAwait(false))
        {
            Print(console.Out, session, transport.Tsih);
            await session.LogoutAsync(ct).ConfigureAwait(false);
        }
        return 0;
    }

    internal static void Print(TextWriter o, IscsiSession session, ushort? tsih)
    {
        var n = session.Negotiated;
        var c = n.Connection;
        var options = session.Options;
        var (expCmdSN, maxCmdSN) = session.CommandWindow;
        string S(FormattableString f) => f.ToString(CultureInfo.InvariantCulture);

        o.WriteLine("Session");
        o.WriteLine($"  Target:            {n.TargetName}{(n.TargetAlias is null ? "" : $" (alias \"{n.TargetAlias}\")")}");
        o.WriteLine($"  Initiator:         {n.InitiatorName}{(n.InitiatorAlias is null ? "" : $" (alias \"{n.InitiatorAlias}\")")}");
        o.WriteLine($"  Portal:            {session.Portal}, portal group tag {(n.TargetPortalGroupTag?.ToString(CultureInfo.InvariantCulture) ?? "not sent")}");
        o.WriteLine($"  Transport:         {session.TransportName}{(c.RdmaExtensions ? " (RDMAExtensions=Yes)" : "")}, local {session.LocalEndPoint} -> remote {session.RemoteEndPoint}");
        o.WriteLine($"  ISID:              0x{session.Isid:x12} (random format, kept across re-logins)");
        o.WriteLine($"  TSIH:              {(tsih is { } t ? S($"0x{t:x4}") : "not reported")}");
        o.WriteLine($"  Authentication:    {n.AuthMethod}{(n.AuthMethod == "None" ? "" : n.MutualAuthentication ? ", mutual (the target proved its identity too)" : ", one-way (the target did not prove its identity)")}");
        o.WriteLine(S($"  CmdSN window:      ExpCmdSN {expCmdSN}, MaxCmdSN {maxCmdSN} ({unchecked((int)(maxCmdSN - expCmdSN)) + 1} commands may be sent)"));
        o.WriteLine($"  Digests:           header {(c.HeaderDigest ? "CRC32C" : "None")}, data {(c.DataDigest ? "CRC32C" : "None")}");
        o.WriteLine(S($"  Data segments:     we receive up to {c.MaxRecvDataSegmentLength} bytes, we send up to {c.MaxXmitDataSegmentLength} bytes per PDU"));
        o.WriteLine(S($"  Bursts:            MaxBurstLength {c.MaxBurstLength}, FirstBurstLength {c.FirstBurstLength}, InitialR2T {YesNo(c.InitialR2T)}, ImmediateData {YesNo(c.ImmediateData)}, MaxOutstandingR2T {c.MaxOutstandingR2T}"));
        o.WriteLine(S($"  Recovery:          ErrorRecoveryLevel {n.ErrorRecoveryLevel}, DefaultTime2Wait {n.DefaultTime2Wait} s, DefaultTime2Retain {n.DefaultTime2Retain} s"));
        o.WriteLine(S($"  Timeouts (ours):   login {Seconds(options.LoginTimeout)}, NOP-Out after {Seconds(options.NopInterval)} idle (answer within {Seconds(options.NopTimeout)}), command {(options.CommandTimeout is { } ct ? Seconds(ct) : "none")}, task management {Seconds(options.ManagementTimeout)}, replacement {(options.Reconnect.Enabled ? Seconds(options.Reconnect.ReplacementTimeout) : "off (no reconnect)")}"));
        o.WriteLine();

        o.WriteLine("Keys (requested = what the proposer offered or declared; answered = the other side's reply)");
        var rows = n.Keys.Select(k => new[] { k.Name, k.OfferedByPeer ? "target" : "initiator", k.Requested ?? "-", k.Answered ?? "-", k.Result }).ToList();
        string[] header = ["Key", "Proposed by", "Requested", "Answered", "Negotiated"];
        var widths = header.Select((h, i) => Math.Min(40, rows.Select(r => r[i].Length).Append(h.Length).Max())).ToArray();
        void Row(string[] cells) => o.WriteLine("  " + string.Join("  ", cells.Select((cell, i) => i == cells.Length - 1 ? cell : cell.PadRight(widths[i]))));
        Row(header);
        Row(widths.Select(w => new string('-', w)).ToArray());
        foreach (var row in rows) Row(row);
    }

    private static string YesNo(bool value) => value ? "Yes" : "No";
    private static string Seconds(TimeSpan t) => t == TimeSpan.Zero ? "off" : string.Create(CultureInfo.InvariantCulture, $"{t.TotalSeconds:0.###} s");
}
