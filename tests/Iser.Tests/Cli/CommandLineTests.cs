namespace Iser.Tests.Cli;

/// <summary>
/// The command line itself (System.CommandLine): help per command, typed options refused in words that name them,
/// and the `[suggest]` directive that shell completion (dotnet-suggest) calls. Nothing here connects anywhere.
/// </summary>
public sealed class CommandLineTests
{
    private const string Url = "iscsi://127.0.0.1/iqn.2026-11.org.iser.test:none/0";

    [Fact]
    public async Task Help_lists_every_command_and_exits_0()
    {
        var run = await CliRun.RunAsync("--help");
        Assert.True(run.ExitCode == 0, run.ToString());
        foreach (var command in new[] { "demo", "target", "discover", "ls", "inq", "read", "write", "session", "perf" })
            Assert.Matches($@"(?m)^\s+{command}\b", run.Out);
    }

    [Fact]
    public async Task No_command_prints_the_help_on_stderr_and_exits_2()
    {
        var run = await CliRun.RunAsync();
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("perf <URL>", run.Error);
        Assert.Equal("", run.Out);
    }

    [Theory]
    [InlineData("perf", "--plot <FILE.svg|FILE.png>", "--compare <tcp,iser>", "-q, --queue-depth <N>", "--iser-queues <shared|own>")]
    [InlineData("read", "--lba <N>", "-o, --output <FILE>", "--header-digest <none|crc32c[,none]>")]
    [InlineData("target", "--lun <SPEC>", "--portal <HOST:PORT[,TPGT]>", "--log <CATEGORY=LEVEL,...>")]
    [InlineData("demo", "--transport <auto|tcp|iser>", "--seconds <DURATION>", "--size <SIZE>")]
    public async Task Each_command_has_its_own_help(string command, params string[] expected)
    {
        var run = await CliRun.RunAsync(command, "--help");
        Assert.True(run.ExitCode == 0, run.ToString());
        foreach (var text in expected) Assert.Contains(text, run.Out);
    }

    [Fact]
    public async Task Help_as_a_command_is_the_same_help()
    {
        var run = await CliRun.RunAsync("help", "perf");
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("--plot <FILE.svg|FILE.png>", run.Out);
    }

    [Theory]
    [InlineData("--queue-depth", "0", "--queue-depth must be 1 to 1024, not 0.")]
    [InlineData("-q", "many", "--queue-depth takes a whole number, not 'many'.")]
    [InlineData("--block-size", "4q", "--block-size takes a size such as 4k, 128K, 64M or 1G, not '4q'.")]
    [InlineData("--block-size", "32M", "--block-size may be at most 16M (one command).")]
    [InlineData("--duration", "soon", "--duration takes a duration such as 10s, 500ms or 2m, not 'soon'.")]
    [InlineData("--mix", "101", "--mix must be 0 to 100, not 101.")]
    [InlineData("--transport", "udp", "--transport must be auto, tcp or iser, not 'udp'.")]
    [InlineData("--header-digest", "md5", "--header-digest must be none, crc32c or a list such as crc32c,none, not 'md5'.")]
    [InlineData("--chap-algorithms", "rot13", "--chap-algorithms: ")]
    [InlineData("--plot", "latency.gif", "--plot writes .svg or .png (the name says which), not 'latency.gif'.")]
    [InlineData("--iser-queues", "private", "--iser-queues must be shared or own, not 'private'.")]
    public async Task Typed_options_refuse_bad_values_in_one_line_naming_the_option(string option, string value, string words)
    {
        var run = await CliRun.RunAsync("perf", Url, option, value);
        Assert.True(run.ExitCode == 2, run.ToString());
        var line = Assert.Single(run.Error.Trim().Split('\n'));
        Assert.StartsWith("iser perf: " + words, line);
    }

    [Fact]
    public async Task Compare_with_json_is_refused_before_anything_runs()
    {
        var run = await CliRun.RunAsync("perf", Url, "--compare", "tcp", "--json");
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("--json and --allocations take a single run", run.Error);
    }

    [Fact]
    public async Task A_missing_subcommand_of_session_is_a_usage_error()
    {
        var run = await CliRun.RunAsync("session", Url);
        Assert.Equal(2, run.ExitCode);
        Assert.StartsWith("iser session: ", run.Error);
    }

    [Fact]
    public async Task Suggest_directive_completes_option_names_for_the_shell()
    {
        // What dotnet-suggest runs on TAB: the command line so far and the cursor position in it.
        var run = await CliRun.RunAsync("[suggest:14]", "iser perf --co");
        Assert.True(run.ExitCode == 0, run.ToString());
        var words = run.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal(["--compare", "--completions"], words);
    }

    [Fact]
    public async Task Suggest_directive_completes_the_words_an_option_takes()
    {
        var run = await CliRun.RunAsync("[suggest:27]", "iser perf URL --transport ");
        Assert.True(run.ExitCode == 0, run.ToString());
        var words = run.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal(["auto", "iser", "tcp"], words.Order());
    }

    [Fact]
    public async Task Suggest_directive_completes_command_names()
    {
        var run = await CliRun.RunAsync("[suggest:7]", "iser di");
        var words = run.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal(["discover"], words);
    }
}
