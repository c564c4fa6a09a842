using Iser.Core.Iscsi.Initiator;
using Iser.Hosting;
using Iser.Transport.Tcp;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Iser.Tests.Hosting;

/// <summary>`services.AddIscsiTarget(configuration)` on the Generic Host: configured, checked at start, served, stopped.</summary>
public class HostingTests
{
    private const string Iqn = "iqn.2026-12.org.example:hosted";

    [Fact]
    public async Task The_host_serves_the_configured_target_and_asks_sessions_to_log_out_when_it_stops()
    {
        using var host = Build(new()
        {
            ["Iser:Portals:0"] = "127.0.0.1:0",
            ["Iser:Targets:0:Iqn"] = Iqn,
            ["Iser:Targets:0:Luns:0"] = "ram:8M",
            ["Iser:Targets:0:Luns:1"] = "ram:4M",
            ["Iser:QueueDepth"] = "64",
        });
        await host.StartAsync();
        var service = host.Services.GetRequiredService<IscsiTargetHostedService>();
        var options = new IscsiSessionOptions { Host = "127.0.0.1", Port = service.Endpoints[0].Port, TargetName = Iqn };
        await using var session = await IscsiSession.ConnectAsync(options, new TcpInitiatorTransport());
        Assert.Equal([0, 1], await session.ReportLunsAsync());
        var lun = await session.OpenLunAsync(1);
        Assert.Equal(4L << 20, lun.BlockCount * lun.BlockSize);
        var data = new byte[8192];
        Random.Shared.NextBytes(data);
        await lun.WriteAsync(0, data);
        var back = new byte[8192];
        await lun.ReadAsync(0, back);
        Assert.Equal(data, back);

        await host.StopAsync();
        Assert.True(SpinWait.SpinUntil(() => session.State != IscsiSessionState.LoggedIn, TimeSpan.FromSeconds(15)),
            $"the session is still {session.State} after the host stopped");
    }

    [Fact]
    public async Task A_bad_configuration_is_refused_at_start_with_every_problem_in_words()
    {
        using var host = Build(new()
        {
            ["Iser:Portals:0"] = "somewhere:http",
            ["Iser:Targets:0:Iqn"] = "disk",
            ["Iser:Targets:0:Luns:0"] = "tape:1",
            ["Iser:Targets:0:Chap:User"] = "alice",
            ["Iser:Targets:0:Chap:Secret"] = "short",
            ["Iser:BlockSize"] = "1000",
        });
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Contains("Portals[0]: 'somewhere:http' is not HOST[:PORT][,TPGT]", error.Message);
        Assert.Contains("Targets[0].Iqn: 'disk' is not an iSCSI name", error.Message);
        Assert.Contains("Targets[0].Luns[0]: 'tape:1' is not a store", error.Message);
        Assert.Contains("Targets[0].Chap.Secret: at least 12 bytes", error.Message);
        Assert.Contains("BlockSize: 512 or 4096, not 1000", error.Message);
    }

    private static IHost Build(Dictionary<string, string?> settings)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddIscsiTarget(builder.Configuration.GetSection("Iser"));
        return builder.Build();
    }
}
