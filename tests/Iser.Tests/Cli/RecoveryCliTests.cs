using System.Globalization;
using System.Text.RegularExpressions;
using Iser.Cli.Demo;
using Iser.Tests.Initiator;
using Iser.Tests.Peers;
using Iser.Tests.Recovery;
using Microsoft.Extensions.Logging;

namespace Iser.Tests.Cli;

/// <summary>
/// ErrorRecoveryLevel 1 end to end, as a user meets it: the `iser` CLI as a process, talking with digests through
/// tests/tools/iscsi-fault-proxy.py (a real TCP relay in its own process) to a target (one RAM LUN, as
/// <see cref="CliTargetFixture"/> starts it). A corrupted Data-Out is asked for again by a recovery R2T, a corrupted
/// Data-In by a Data SNACK; the command succeeds with the right bytes in the one connection it logged in on.
/// At level 0 the same corruption fails the read, saying why.
/// </summary>
public sealed class RecoveryCliTests : IAsyncLifetime
{
    private const int Bytes = 4 << 20; // 4 MiB: 8192 blocks of 512 bytes
    private const string Blocks = "8192";
    private const string Lba = "1024";
    private static readonly TimeSpan CliTimeout = TimeSpan.FromSeconds(30);
    private static readonly string[] Digests = ["--header-digest", "crc32c", "--data-digest", "crc32c", "--log-level", "warning"];

    private readonly CapturedLog _targetLog = new(LogLevel.Warning);
    private readonly List<string> _files = [];
    private EmbeddedTarget _target = null!;

    public Task InitializeAsync()
    {
        _target = EmbeddedTarget.Start(CliTargetFixture.LunBytes, _targetLog.Factory, CliTargetFixture.Iqn);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _target.DisposeAsync();
        foreach (string file in _files) File.Delete(file);
    }

    [PythonFact]
    public async Task Write_at_level_1_recovers_a_corrupted_data_out_by_a_recovery_r2t_in_one_connection()
    {
        var (input, data) = await RandomFileAsync();
        await using var proxy = await StartProxyAsync("corrupt-data:to-target:DataOut:3");

        var write = await IserAsync(["write", ProxiedUrl(proxy), "--lba", Lba, "-i", input, "--error-recovery-level", "1", .. Digests]);
        Assert.True(write.ExitCode == 0, $"{write}\n{Show(proxy)}");
        Assert.Contains($"Wrote {Blocks} blocks (4 MiB) at LBA {Lba}.", write.Stdout);

        await AssertOneConnectionAsync(proxy);
        var fired = Fired(proxy, "corrupt-data:to-target:DataOut:3", "DataOut #3 to-target");
        // The target found that Data-Out's digest wrong and asked for its data again (a recovery R2T), in the same connection.
        string offset = fired.Groups["offset"].Value;
        Assert.True(_targetLog.Lines.Any(l => l.Contains("Data digest error") && l.Contains($"Asking again for the data from offset {offset}.")),
            $"target log:\n{_targetLog}\n{Show(proxy)}");

        // Straight from the target, not through the proxy: exactly the bytes of the file.
        string output = TempFile();
        var read = await IserAsync(["read", _target.LunUrl, "--lba", Lba, "--count", Blocks, "-o", output]);
        Assert.True(read.ExitCode == 0, read.ToString());
        AssertSameBytes(data, await File.ReadAllBytesAsync(output));
        Assert.Equal(0, await proxy.StopAsync());
    }

    [PythonFact]
    public async Task Read_at_level_1_recovers_a_corrupted_data_in_by_a_data_snack_in_one_connection()
    {
        var data = await WriteDirectlyAsync();
        await using var proxy = await StartProxyAsync("corrupt-data:to-initiator:DataIn:3");

        string output = TempFile();
        var read = await IserAsync(["read", ProxiedUrl(proxy), "--lba", Lba, "--count", Blocks, "-o", output, "--error-recovery-level", "1", .. Digests]);
        Assert.True(read.ExitCode == 0, $"{read}\n{Show(proxy)}");
        AssertSameBytes(data, await File.ReadAllBytesAsync(output));

        await AssertOneConnectionAsync(proxy);
        var fired = Fired(proxy, "corrupt-data:to-initiator:DataIn:3", "DataIn #3 to-initiator");
        // The initiator (the CLI, logging warnings on stderr) saw that Data-In's digest fail and asked for it again (Data SNACK).
        string dataSN = fired.Groups["sn"].Value;
        Assert.True(read.Stderr.Contains($"DataSN {dataSN} failed its data digest; asking for DataSN {dataSN}..{dataSN} again", StringComparison.Ordinal),
            $"{read}\n{Show(proxy)}");
        Assert.Equal(0, await proxy.StopAsync());
    }

    [PythonFact]
    public async Task Read_at_level_0_fails_on_the_same_corrupted_data_in_and_says_the_data_digest_failed()
    {
        var data = await WriteDirectlyAsync();
        await using var proxy = await StartProxyAsync("corrupt-data:to-initiator:DataIn:3");

        string output = TempFile();
        var read = await IserAsync(["read", ProxiedUrl(proxy), "--lba", Lba, "--count", Blocks, "-o", output, "--error-recovery-level", "0", .. Digests]);
        Assert.True(read.ExitCode == 1, $"{read}\n{Show(proxy)}");
        Assert.Contains("iser read: ", read.Stderr);
        Assert.Contains("failed its data digest", read.Stderr);
        Assert.Contains("cannot be trusted", read.Stderr);
        Assert.Contains("Data digest error", read.Stderr);
        Assert.DoesNotContain("asking for DataSN", read.Stderr); // no SNACK at level 0

        await AssertOneConnectionAsync(proxy);
        Fired(proxy, "corrupt-data:to-initiator:DataIn:3", "DataIn #3 to-initiator");
        Assert.Equal(0, await proxy.StopAsync());
    }

    [PythonFact]
    public async Task Read_at_level_2_survives_its_connection_killed_mid_data_in_one_session()
    {
        var data = await WriteDirectlyAsync();
        await using var proxy = await StartProxyAsync("kill:to-initiator:DataIn:3");

        string output = TempFile();
        var read = await IserAsync(["read", ProxiedUrl(proxy), "--lba", Lba, "--count", Blocks, "-o", output, "--error-recovery-level", "2", .. Digests]);
        Assert.True(read.ExitCode == 0, $"{read}\n{Show(proxy)}");
        AssertSameBytes(data, await File.ReadAllBytesAsync(output));
        // The connection died; a second one joined the same session (not a new session) and took the command over.
        Assert.Contains("bringing a new connection into the session", read.Stderr);
        Assert.DoesNotContain("logging in again", read.Stderr);
        Assert.Contains(proxy.StderrLines, l => l.StartsWith("connection 2: accepted", StringComparison.Ordinal));
        Assert.Equal(0, await proxy.StopAsync());
    }

    [PythonFact]
    public async Task Write_at_level_2_survives_its_connection_killed_mid_data_out_in_one_session()
    {
        var (input, data) = await RandomFileAsync();
        await using var proxy = await StartProxyAsync("kill:to-target:DataOut:3");

        var write = await IserAsync(["write", ProxiedUrl(proxy), "--lba", Lba, "-i", input, "--error-recovery-level", "2", .. Digests]);
        Assert.True(write.ExitCode == 0, $"{write}\n{Show(proxy)}");
        Assert.Contains("bringing a new connection into the session", write.Stderr);
        Assert.Contains(proxy.StderrLines, l => l.StartsWith("connection 2: accepted", StringComparison.Ordinal));
        string output = TempFile();
        var read = await IserAsync(["read", _target.LunUrl, "--lba", Lba, "--count", Blocks, "-o", output]);
        Assert.True(read.ExitCode == 0, read.ToString());
        AssertSameBytes(data, await File.ReadAllBytesAsync(output));
        Assert.Equal(0, await proxy.StopAsync());
    }

    // ---- Helpers ----

    /// <summary>The Python proxy as an <see cref="ExternalProcess"/>; its port from the "listening HOST:PORT" line.</summary>
    private sealed class FaultProxy(ExternalProcess process, int port) : IAsyncDisposable
    {
        public ExternalProcess Process { get; } = process;
        public int Port { get; } = port;
        public IReadOnlyList<string> StderrLines => Process.StderrLines;

        /// <summary>SIGTERM; the exit code (0 when it stopped cleanly).</summary>
        public async Task<int> StopAsync()
        {
            Process.Signal(ExternalProcess.SigTerm);
            return await Process.WaitForExitAsync(TimeSpan.FromSeconds(10));
        }

        public ValueTask DisposeAsync() => Process.DisposeAsync();
    }

    private async Task<FaultProxy> StartProxyAsync(string rule)
    {
        string script = Path.Combine(IserCli.RepositoryRoot ?? throw new InvalidOperationException(
            "The repository root (holding Iser.sln) was not found above the test output; tests/tools/iscsi-fault-proxy.py lives there."),
            "tests", "tools", "iscsi-fault-proxy.py");
        var process = ExternalProcess.Start(PythonFactAttribute.Python!,
            [script, "--listen", "127.0.0.1:0", "--target", _target.Portal, "--rule", rule]);
        try
        {
            const string ready = "listening 127.0.0.1:";
            string line = await process.WaitForLineAsync(l => l.StartsWith(ready, StringComparison.Ordinal), TimeSpan.FromSeconds(10));
            return new FaultProxy(process, int.Parse(line[ready.Length..], CultureInfo.InvariantCulture));
        }
        catch
        {
            await process.DisposeAsync();
            throw;
        }
    }

    private static string ProxiedUrl(FaultProxy proxy) => $"iscsi://127.0.0.1:{proxy.Port}/{CliTargetFixture.Iqn}/0";

    /// <summary>
    /// One CLI run, one login: the proxy accepted exactly one connection, which reached full feature phase once with
    /// both digests on, and closed (the CLI logged out) rather than being reset.
    /// </summary>
    private static async Task AssertOneConnectionAsync(FaultProxy proxy)
    {
        await proxy.Process.WaitForLineAsync(l => l.StartsWith("connection 1: closed", StringComparison.Ordinal), TimeSpan.FromSeconds(5));
        var lines = proxy.StderrLines;
        Assert.True(lines.Count(l => l.EndsWith(": accepted", StringComparison.Ordinal)) == 1, Show(proxy));
        Assert.Contains("connection 1: accepted", lines);
        Assert.Single(lines, l => l.Contains("full feature phase", StringComparison.Ordinal));
        Assert.Contains("connection 1: full feature phase, HeaderDigest=CRC32C DataDigest=CRC32C", lines);
        Assert.DoesNotContain(lines, l => l.StartsWith("connection 2", StringComparison.Ordinal));
    }

    /// <summary>The proxy's one line saying <paramref name="rule"/> flipped a data byte of <paramref name="pdu"/>; groups "sn" (DataSN) and "offset".</summary>
    private static Match Fired(FaultProxy proxy, string rule, string pdu)
    {
        var pattern = new Regex($@"^rule {Regex.Escape(rule)} fired: corrupted data byte \d+ of \d+ in {Regex.Escape(pdu)} ITT 0x[0-9a-f]{{8}} DataSN (?<sn>\d+) offset (?<offset>\d+)$");
        var lines = proxy.StderrLines.Where(l => l.StartsWith($"rule {rule} fired", StringComparison.Ordinal)).ToArray();
        Assert.True(lines.Length == 1, Show(proxy));
        var match = pattern.Match(lines[0]);
        Assert.True(match.Success, $"'{lines[0]}' does not match {pattern}");
        return match;
    }

    /// <summary>`dotnet iser.dll ARGS`, to completion.</summary>
    private static Task<ProcessResult> IserAsync(string[] args) =>
        ExternalProcess.RunAsync(IserCli.DotnetHost, [IserCli.RequireDll(), .. args], CliTimeout);

    /// <summary>4 MiB of random bytes written by `iser write` straight to the target (no proxy, no digests).</summary>
    private async Task<byte[]> WriteDirectlyAsync()
    {
        var (input, data) = await RandomFileAsync();
        var write = await IserAsync(["write", _target.LunUrl, "--lba", Lba, "-i", input]);
        Assert.True(write.ExitCode == 0, write.ToString());
        return data;
    }

    private async Task<(string Path, byte[] Data)> RandomFileAsync()
    {
        var data = new byte[Bytes];
        Random.Shared.NextBytes(data);
        string path = TempFile();
        await File.WriteAllBytesAsync(path, data);
        return (path, data);
    }

    private string TempFile()
    {
        string path = Path.GetTempFileName();
        _files.Add(path);
        return path;
    }

    private static void AssertSameBytes(byte[] expected, byte[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        int first = expected.AsSpan().CommonPrefixLength(actual);
        Assert.True(first == expected.Length, $"the bytes differ first at offset {first} of {expected.Length}");
    }

    private static string Show(FaultProxy proxy) => "proxy stderr:\n" + string.Join("\n", proxy.StderrLines);
}
