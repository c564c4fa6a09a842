using Iser.Cli.Demo;
using Iser.Core.Iscsi.Login;
using Microsoft.Extensions.Logging.Abstractions;

namespace Iser.Tests.Cli;

/// <summary>CHAP through the command line: credentials in the URL or as flags, mutual CHAP, and refusals as one sentence.</summary>
public sealed class ChapCommandTests : IAsyncLifetime
{
    private const string Iqn = "iqn.2026-11.org.iser.test:chap";
    private EmbeddedTarget _target = null!;

    public Task InitializeAsync()
    {
        _target = EmbeddedTarget.Start(4L << 20, NullLoggerFactory.Instance, Iqn,
            initiatorChap: new ChapCredentials("alice", "alice-secret-0123"), targetChap: new ChapCredentials("tgt", "target-secret-4567"));
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _target.DisposeAsync();

    [Fact]
    public async Task Credentials_in_the_url_log_in_with_one_way_chap()
    {
        var run = await CliRun.RunAsync("session", "show", $"iscsi://alice%alice-secret-0123@{_target.Portal}/{Iqn}/0");
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("Authentication:    CHAP, one-way", run.Out);
    }

    [Fact]
    public async Task Mutual_flags_make_the_target_prove_itself()
    {
        var run = await CliRun.RunAsync("session", "show", $"iscsi://{_target.Portal}/{Iqn}/0",
            "--chap-user", "alice", "--chap-secret", "alice-secret-0123", "--mutual-user", "tgt", "--mutual-secret", "target-secret-4567");
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("Authentication:    CHAP, mutual", run.Out);
    }

    [Fact]
    public async Task A_wrong_secret_is_refused_in_one_sentence_with_exit_code_1()
    {
        var run = await CliRun.RunAsync("inq", $"iscsi://{_target.Portal}/{Iqn}/0", "--chap-user", "alice", "--chap-secret", "not-the-secret-999");
        Assert.True(run.ExitCode == 1, run.ToString());
        var line = Assert.Single(run.Error.Trim().Split('\n'));
        Assert.StartsWith("iser inq: ", line);
        Assert.Contains("authentication", line, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task A_wrong_target_secret_fails_mutual_chap()
    {
        var run = await CliRun.RunAsync("inq", $"iscsi://{_target.Portal}/{Iqn}/0",
            "--chap-user", "alice", "--chap-secret", "alice-secret-0123", "--mutual-user", "tgt", "--mutual-secret", "wrong-target-secret");
        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Single(run.Error.Trim().Split('\n'));
    }

    [Fact]
    public async Task Mutual_without_chap_is_a_usage_error()
    {
        var run = await CliRun.RunAsync("inq", $"iscsi://{_target.Portal}/{Iqn}/0", "--mutual-user", "tgt", "--mutual-secret", "target-secret-4567");
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("--mutual-user needs CHAP credentials too", run.Error);
    }
}
