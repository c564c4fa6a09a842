using System.Diagnostics;
using System.Text.Json;
using Iser.Core.Iscsi.Initiator;
using Iser.Tests.Peers;
using Iser.Transport.Tcp;

namespace Iser.Tests.Cli;

/// <summary>
/// `iser target --config FILE` reads the file again on SIGHUP: a LUN added shows up (with REPORTED LUNS DATA HAS
/// CHANGED), an initiator dropped from the access list loses its session, the one still allowed keeps it and its
/// data, and a broken file changes nothing.
/// </summary>
public class ReloadTests
{
    private const string Iqn = "iqn.2026-12.org.example:reloaded";
    private const string Kept = "iqn.2026-12.org.example:kept";
    private const string Dropped = "iqn.2026-12.org.example:dropped";

    [Fact]
    public async Task Sighup_applies_the_changed_config_file_without_dropping_allowed_sessions()
    {
        var directory = Directory.CreateTempSubdirectory("iser-reload-");
        try
        {
            string path = Path.Combine(directory.FullName, "target.json");
            await WriteConfigAsync(path, ["ram:8M"], allowed: []);
            await using var target = await OurTargetProcess.StartAsync(new OurTargetOptions { ConfigFile = path });

            await using var kept = await ConnectAsync(target, Kept);
            await using var dropped = await ConnectAsync(target, Dropped);
            var lun = await kept.OpenLunAsync(0);
            var data = new byte[4096];
            Random.Shared.NextBytes(data);
            await lun.WriteAsync(0, data);
            Assert.Equal([0], await kept.ReportLunsAsync());

            // A file that does not parse changes nothing.
            await File.WriteAllTextAsync(path, "{ \"targets\": [ { \"iqn\": ");
            await SignalAsync(target);
            await target.WaitForLineAsync(l => l.StartsWith("reload failed:", StringComparison.Ordinal), TimeSpan.FromSeconds(20));
            Assert.Equal([0], await kept.ReportLunsAsync());

            await WriteConfigAsync(path, ["ram:8M", "ram:4M"], allowed: [Kept]);
            await SignalAsync(target);
            string line = await target.WaitForLineAsync(l => l.StartsWith("reloaded:", StringComparison.Ordinal), TimeSpan.FromSeconds(20));
            Assert.Contains($"{Iqn} lun 1: ram:4M", line);
            Assert.Contains("1 session(s) no longer allowed ended", line);

            Assert.Equal([0, 1], await kept.ReportLunsAsync()); // the REPORTED LUNS DATA HAS CHANGED attention is retried inside
            var back = new byte[4096];
            await lun.ReadAsync(0, back);
            Assert.Equal(data, back);
            Assert.Equal(0, kept.ReconnectCount);

            // The dropped initiator's session was ended; logging in again is refused.
            var error = await Assert.ThrowsAnyAsync<Exception>(() => dropped.ReportLunsAsync());
            Assert.NotNull(error);
            var refused = await Assert.ThrowsAsync<IscsiLoginException>(() => ConnectAsync(target, Dropped));
            Assert.Contains("authoriz", refused.Message, StringComparison.OrdinalIgnoreCase);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    private static Task WriteConfigAsync(string path, string[] luns, string[] allowed) =>
        File.WriteAllTextAsync(path, JsonSerializer.Serialize(new
        {
            targets = new object[] { new { iqn = Iqn, luns, allowedInitiators = allowed } },
        }));

    private static async Task SignalAsync(OurTargetProcess target)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-HUP", target.ProcessId.ToString()]) { UseShellExecute = false })!;
        await kill.WaitForExitAsync();
        Assert.Equal(0, kill.ExitCode);
    }

    private static Task<IscsiSession> ConnectAsync(OurTargetProcess target, string initiatorName) =>
        IscsiSession.ConnectAsync(new IscsiSessionOptions
        {
            Host = "127.0.0.1", Port = target.Port, TargetName = Iqn, InitiatorName = initiatorName,
            LoginTimeout = TimeSpan.FromSeconds(10),
        }, new TcpInitiatorTransport());
}
