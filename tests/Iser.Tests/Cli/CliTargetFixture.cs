using Iser.Cli.Demo;
using Microsoft.Extensions.Logging.Abstractions;

namespace Iser.Tests.Cli;

/// <summary>An in-process target (one 16 MiB RAM LUN on 127.0.0.1) shared by the CLI tests of one class.</summary>
public sealed class CliTargetFixture : IAsyncLifetime
{
    public const long LunBytes = 16L << 20;
    public const string Iqn = "iqn.2026-11.org.iser.test:cli";

    internal EmbeddedTarget Target { get; private set; } = null!;
    public string Portal => Target.Portal;
    public string Url => Target.LunUrl;

    public Task InitializeAsync()
    {
        Target = EmbeddedTarget.Start(LunBytes, NullLoggerFactory.Instance, Iqn);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await Target.DisposeAsync();
}
