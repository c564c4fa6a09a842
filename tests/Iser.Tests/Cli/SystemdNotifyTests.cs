using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Iser.Tests.Peers;

namespace Iser.Tests.Cli;

/// <summary>`iser target` under systemd (Type=notify): READY=1 when serving, RELOADING=1 then READY=1 around SIGHUP, STOPPING=1.</summary>
public class SystemdNotifyTests
{
    [Fact]
    public async Task The_target_tells_systemd_when_it_is_ready_reloading_and_stopping()
    {
        var directory = Directory.CreateTempSubdirectory("iser-notify-");
        try
        {
            string socketPath = Path.Combine(directory.FullName, "notify");
            using var listener = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
            listener.Bind(new UnixDomainSocketEndPoint(socketPath));
            string config = Path.Combine(directory.FullName, "target.json");
            await File.WriteAllTextAsync(config, JsonSerializer.Serialize(new
            {
                targets = new object[] { new { iqn = "iqn.2026-12.org.example:notified", luns = new[] { "ram:4M" } } },
            }));
            var target = await OurTargetProcess.StartAsync(new OurTargetOptions
            {
                ConfigFile = config,
                Environment = new Dictionary<string, string> { ["NOTIFY_SOCKET"] = socketPath },
            });
            await using (target)
            {
                Assert.Equal("READY=1", await ReceiveAsync(listener));
                using (var kill = Process.Start(new ProcessStartInfo("kill", ["-HUP", target.ProcessId.ToString()]) { UseShellExecute = false })!)
                    await kill.WaitForExitAsync();
                Assert.StartsWith("RELOADING=1\nMONOTONIC_USEC=", await ReceiveAsync(listener));
                Assert.Equal("READY=1", await ReceiveAsync(listener));
            }
            Assert.Equal("STOPPING=1", await ReceiveAsync(listener));
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    private static async Task<string> ReceiveAsync(Socket socket)
    {
        var buffer = new byte[512];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        int n = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
        return Encoding.UTF8.GetString(buffer, 0, n);
    }
}
