using Iser.Cli.Commands;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Iser.Cli.Target;

/// <summary>
/// Runs `iser target` on the .NET Generic Host: <see cref="TargetService"/> as its hosted service, the console lifetime
/// for SIGINT/SIGTERM (sessions are asked to log out on the way down), sd_notify for `Type=notify` units, and, when
/// standard error goes to journald, systemd's log format. Returns the exit code (0 after a clean stop).
/// </summary>
internal static class TargetHost
{
    public static async Task<int> RunAsync(TargetRunOptions run)
    {
        // Every usage error before anything opens.
        var plan = TargetPlan.From(run);
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { Args = [] });
        // The host's own failure report ("Hosting failed to start", with a stack trace) repeats the one line the
        // command prints for the same error; --log can still ask for it.
        builder.Logging.ClearProviders();
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting", LogLevel.None);
        Logging.Configure(builder.Logging, run.LogLevel, run.LogCategories, forJournal: Logging.UnderSystemd());
        builder.Services.AddSingleton<IHostLifetime, Microsoft.Extensions.Hosting.Internal.ConsoleLifetime>();
        builder.Services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
        builder.Services.AddSingleton(run);
        builder.Services.AddSingleton(plan);
        builder.Services.AddSingleton<SystemdNotify>();
        builder.Services.AddHostedService<TargetService>();

        using var meterProvider = run.Metrics is null ? null : MetricsEndpoint.Start(run.Metrics);
        if (run.Metrics is not null) Console.WriteLine($"metrics http://{run.Metrics}/metrics");
        // RunAsync disposes the host (and with it the target) however it ends.
        var host = builder.Build();
        await host.RunAsync().ConfigureAwait(false);
        return 0;
    }
}
