using Iser.Core.Iscsi.Initiator;
using Iser.Tests.Peers;
using Iser.Transport.Tcp;

namespace Iser.Tests.Cli;

/// <summary>`iser target --metrics HOST:PORT` serves the meters as Prometheus text while a session does I/O.</summary>
public class MetricsEndpointTests
{
    [Fact]
    public async Task The_target_serves_its_meters_for_prometheus()
    {
        int metricsPort = FreePort.OnLoopback();
        await using var target = await OurTargetProcess.StartAsync(new OurTargetOptions
        {
            ExtraArguments = ["--metrics", $"127.0.0.1:{metricsPort}"],
        });
        var options = new IscsiSessionOptions { Host = "127.0.0.1", Port = target.Port, TargetName = target.TargetIqn };
        await using var session = await IscsiSession.ConnectAsync(options, new TcpInitiatorTransport());
        var lun = await session.OpenLunAsync(OurTargetProcess.FirstLun);
        await lun.WriteAsync(0, new byte[4096]);
        await lun.ReadAsync(0, new byte[4096]);

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        string text = await http.GetStringAsync($"http://127.0.0.1:{metricsPort}/metrics");
        Assert.Contains("# TYPE iser_target_command_duration_seconds histogram", text);
        Assert.Contains("iser_target_sessions{", text);
        Assert.Matches(@"iser_target_io_bytes_total\{[^}]*iser_io_direction=""write""[^}]*\} 4096", text);
        Assert.Matches(@"iser_target_logins_total\{[^}]*iser_login_result=""success""[^}]*\} 1", text);
        // The runtime's own meter rides along, so an operator can set GC heap against the session count.
        Assert.Matches(@"dotnet_gc_heap_total_allocated_bytes_total(\{[^}]*\})? [1-9]", text);
    }
}
