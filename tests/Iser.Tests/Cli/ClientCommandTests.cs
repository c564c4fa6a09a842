using System.Globalization;
using System.Text.Json;

namespace Iser.Tests.Cli;

/// <summary>The client commands run in-process against our own target, checked on what they print and their exit codes.</summary>
public sealed class ClientCommandTests(CliTargetFixture target) : IClassFixture<CliTargetFixture>
{
    [Fact]
    public async Task Discover_prints_the_target_with_its_portal_and_group_tag()
    {
        var run = await CliRun.RunAsync("discover", target.Portal);
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains($"{target.Portal},1 {CliTargetFixture.Iqn}", run.Out.Split('\n').Select(l => l.Trim()));
    }

    [Fact]
    public async Task Ls_lists_the_target_and_the_lun_with_its_size()
    {
        var run = await CliRun.RunAsync("ls", target.Portal);
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains($"Target: {CliTargetFixture.Iqn}", run.Out);
        var lunLine = run.Out.Split('\n').Single(l => l.TrimStart().StartsWith("Lun: 0", StringComparison.Ordinal));
        Assert.Contains("Type: disk", lunLine);
        Assert.Contains($"Size: 16 MiB ({CliTargetFixture.LunBytes / 512} blocks of 512 bytes)", lunLine);
    }

    [Fact]
    public async Task Inq_decodes_standard_inquiry_and_the_vpd_pages()
    {
        var run = await CliRun.RunAsync("inq", target.Url);
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("Device type:          disk (0x00)", run.Out);
        Assert.Contains("Unit serial number (VPD 0x80)", run.Out);
        Assert.Contains("Device identification (VPD 0x83)", run.Out);
        Assert.Contains("Block limits (VPD 0xB0)", run.Out);
        Assert.Matches(@"Maximum transfer length:\s+\d+ blocks", run.Out);
    }

    [Fact]
    public async Task Read_after_write_returns_the_written_bytes()
    {
        var input = Path.GetTempFileName();
        var output = Path.GetTempFileName();
        try
        {
            var data = new byte[512 * 9];
            new Random(42).NextBytes(data);
            await File.WriteAllBytesAsync(input, data);
            var write = await CliRun.RunAsync("write", target.Url, "--lba", "100", "-i", input);
            Assert.True(write.ExitCode == 0, write.ToString());
            Assert.Contains("Wrote 9 blocks", write.Out);

            var read = await CliRun.RunAsync("read", target.Url, "--lba", "100", "--count", "9", "-o", output);
            Assert.True(read.ExitCode == 0, read.ToString());
            Assert.Equal(data, await File.ReadAllBytesAsync(output));

            // Without -o: a hex dump of the same bytes on stdout.
            var dump = await CliRun.RunAsync("read", target.Url, "--lba", "100", "--count", "1");
            Assert.True(dump.ExitCode == 0, dump.ToString());
            var firstLine = dump.Out.Split('\n')[0];
            Assert.StartsWith("00000000  " + string.Join(' ', data.Take(8).Select(b => b.ToString("x2", CultureInfo.InvariantCulture))), firstLine);
            var lines = dump.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            Assert.Equal(33, lines.Length); // 512 random bytes, 16 per line, then the end offset
            Assert.Equal("00000200", lines[^1]);
        }
        finally
        {
            File.Delete(input);
            File.Delete(output);
        }
    }

    [Fact]
    public async Task Hex_dump_collapses_repeated_lines_like_hexdump_C()
    {
        // LBA 20000.. is never written by the other tests: zeros.
        var run = await CliRun.RunAsync("read", target.Url, "--lba", "20000", "--count", "4");
        Assert.True(run.ExitCode == 0, run.ToString());
        var lines = run.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal(["00000000  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  |................|", "*", "00000800"], lines);
    }

    [Fact]
    public async Task Write_refuses_a_partial_block_and_pads_it_when_asked()
    {
        var input = Path.GetTempFileName();
        var output = Path.GetTempFileName();
        try
        {
            var data = new byte[700];
            new Random(7).NextBytes(data);
            await File.WriteAllBytesAsync(input, data);
            var refused = await CliRun.RunAsync("write", target.Url, "--lba", "300", "-i", input);
            Assert.Equal(1, refused.ExitCode);
            Assert.Contains("not a whole number of 512-byte blocks", refused.Error);
            Assert.Single(refused.Error.Trim().Split('\n'));

            var padded = await CliRun.RunAsync("write", target.Url, "--lba", "300", "-i", input, "--pad");
            Assert.True(padded.ExitCode == 0, padded.ToString());
            var read = await CliRun.RunAsync("read", target.Url, "--lba", "300", "--count", "2", "-o", output);
            Assert.True(read.ExitCode == 0, read.ToString());
            var back = await File.ReadAllBytesAsync(output);
            Assert.Equal(data, back[..700]);
            Assert.All(back[700..], b => Assert.Equal(0, b));
        }
        finally
        {
            File.Delete(input);
            File.Delete(output);
        }
    }

    [Fact]
    public async Task Session_show_lists_keys_with_requested_and_negotiated_values()
    {
        var run = await CliRun.RunAsync("session", "show", target.Url, "--header-digest", "crc32c,none", "--initiator-name", "iqn.2026-11.org.iser.test:shower");
        Assert.True(run.ExitCode == 0, run.ToString());
        var header = Row(run.Out, "HeaderDigest");
        Assert.Equal(["HeaderDigest", "initiator", "CRC32C,None", "CRC32C", "CRC32C"], header);
        var tpgt = Row(run.Out, "TargetPortalGroupTag");
        Assert.Equal("target", tpgt[1]);
        Assert.Contains("Initiator:         iqn.2026-11.org.iser.test:shower", run.Out);
        Assert.Matches(@"TSIH:\s+0x[0-9a-f]{4}", run.Out);
        Assert.Matches(@"ISID:\s+0x[0-9a-f]{12}", run.Out);
        Assert.Contains("Digests:           header CRC32C, data None", run.Out);
        Assert.Contains("Authentication:    None", run.Out);
        Assert.Matches(@"CmdSN window:\s+ExpCmdSN \d+, MaxCmdSN \d+", run.Out);
    }

    private static string[] Row(string text, string key) =>
        text.Split('\n').Select(l => l.Trim()).Single(l => l.StartsWith(key + " ", StringComparison.Ordinal))
            .Split("  ", StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    [Fact]
    public async Task Perf_json_reports_iops_and_ordered_percentiles()
    {
        var run = await CliRun.RunAsync("perf", target.Url, "--mode", "randrw", "--mix", "60", "--block-size", "4k", "--queue-depth", "8",
            "--duration", "1s", "--size", "8M", "--json", "--quiet"); // writes stay below LBA 16384
        Assert.True(run.ExitCode == 0, run.ToString());
        using var json = JsonDocument.Parse(run.Out);
        var root = json.RootElement;
        Assert.Equal("randrw", root.GetProperty("mode").GetString());
        Assert.Equal(8, root.GetProperty("queueDepth").GetInt32());
        Assert.True(root.GetProperty("iops").GetDouble() > 0);
        long reads = root.GetProperty("reads").GetInt64(), writes = root.GetProperty("writes").GetInt64();
        Assert.Equal(root.GetProperty("commands").GetInt64(), reads + writes);
        Assert.True(reads > 0 && writes > 0, run.Out);
        var latency = root.GetProperty("latencyMicroseconds");
        double[] ordered = new[] { "min", "p50", "p90", "p99", "p99_9", "max" }.Select(k => latency.GetProperty(k).GetDouble()).ToArray();
        Assert.True(ordered[0] > 0, run.Out);
        for (int i = 1; i < ordered.Length; i++) Assert.True(ordered[i - 1] <= ordered[i], run.Out);
        double mbps = root.GetProperty("mbPerSecond").GetDouble();
        Assert.InRange(mbps, root.GetProperty("iops").GetDouble() * 4096 / 1e6 * 0.99, root.GetProperty("iops").GetDouble() * 4096 / 1e6 * 1.01);
    }

    [Fact]
    public async Task Perf_ramp_runs_first_and_is_left_out_of_the_figures()
    {
        var run = await CliRun.RunAsync("perf", target.Url, "--mode", "randread", "-q", "4", "--ramp", "1.5s", "--duration", "1s", "--json");
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("ramp: 1.5 s of the same load, not counted", run.Error);
        using var json = JsonDocument.Parse(run.Out);
        // The measured window is the duration alone; ramp time counted in would make it about 2.5 s.
        Assert.InRange(json.RootElement.GetProperty("seconds").GetDouble(), 0.9, 2.0);
        Assert.True(json.RootElement.GetProperty("commands").GetInt64() > 0);
    }

    [Fact]
    public async Task Perf_text_prints_progress_and_a_summary()
    {
        var run = await CliRun.RunAsync("perf", target.Url, "--mode", "read", "--block-size", "64k", "-q", "2", "--duration", "1.5s");
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("read, 64 KiB, 2 in flight", run.Out);
        Assert.Matches(@"IOPS \d+", run.Out);
        Assert.Matches(@"p99\.9 [\d.]+", run.Out);
        Assert.Matches(@"\[\s+1s\]\s+\d+ IOPS", run.Error);
    }

    [Fact]
    public async Task Perf_compare_runs_the_workload_over_each_transport_into_one_table()
    {
        var run = await CliRun.RunAsync("perf", target.Url, "--mode", "randread", "-q", "4", "--duration", "1s", "--compare", "tcp,iser", "--quiet");
        Assert.True(run.ExitCode == 0, run.ToString());
        var lines = run.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Trim()).ToList();
        Assert.StartsWith("randread, 4 KiB, 4 in flight, 1 s per transport", lines[0]);
        Assert.StartsWith("transport", lines[1]);
        var tcp = lines.Single(l => l.StartsWith("tcp ", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(double.Parse(tcp[1], CultureInfo.InvariantCulture) > 0, run.ToString()); // IOPS
        Assert.Equal("1.00", tcp[^1]); // the first transport is the baseline
        // iSER runs where an RDMA device exists (the lab); elsewhere its row says why it did not.
        var iser = lines.Single(l => l.StartsWith("iser ", StringComparison.Ordinal));
        Assert.True(iser.Contains("did not run: iSER is not available: ", StringComparison.Ordinal)
            || double.Parse(iser.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) > 0, run.ToString());
    }

    [Theory]
    [InlineData("tcp,udp", "not 'udp'")]
    [InlineData(",", "at least one transport")]
    public async Task Perf_compare_refuses_unknown_transports_in_words(string transports, string words)
    {
        var run = await CliRun.RunAsync("perf", target.Url, "--compare", transports);
        Assert.Equal(2, run.ExitCode);
        Assert.Contains(words, run.Error);
    }

    [Fact]
    public async Task Ctrl_c_ends_perf_early_with_the_figures_so_far_and_exit_code_130()
    {
        var run = await CliRun.RunAsync(TimeSpan.FromSeconds(2), "perf", target.Url, "-q", "4", "--duration", "60s", "--json", "--quiet");
        Assert.True(run.ExitCode == 130, run.ToString());
        using var json = JsonDocument.Parse(run.Out);
        Assert.InRange(json.RootElement.GetProperty("seconds").GetDouble(), 0.5, 30);
        Assert.True(json.RootElement.GetProperty("commands").GetInt64() > 0);
        Assert.Contains("stopped by Ctrl-C", run.Error);
    }

    [Fact]
    public async Task Ctrl_c_before_the_login_completes_exits_130_with_one_line()
    {
        // Cancelled before it starts: whatever step first notices (connect, login, READ CAPACITY), the answer is the same.
        var run = await CliRun.RunAsync(TimeSpan.Zero, "read", target.Url, "--lba", "0", "--count", "1");
        Assert.True(run.ExitCode == 130, run.ToString());
        Assert.Equal("iser read: cancelled.", run.Error.Trim());
        Assert.Equal("", run.Out);
    }

    [Theory]
    [InlineData("inq", "not-a-url")]
    [InlineData("inq", "http://127.0.0.1/iqn.x:y/0")]
    [InlineData("read", "iscsi://127.0.0.1/iqn.x:y/0", "--count", "1")]
    [InlineData("perf", "iscsi://127.0.0.1/iqn.x:y/0", "--mode", "sideways")]
    [InlineData("discover", "127.0.0.1:3260", "--frobnicate")]
    [InlineData("discover")]
    public async Task Bad_arguments_give_one_sentence_and_exit_code_2(params string[] args)
    {
        var run = await CliRun.RunAsync(args);
        Assert.True(run.ExitCode == 2, run.ToString());
        var line = Assert.Single(run.Error.Trim().Split('\n'));
        Assert.StartsWith($"iser {args[0]}: ", line);
        Assert.EndsWith(".", line);
    }

    [Fact]
    public async Task Unknown_command_exits_2()
    {
        var run = await CliRun.RunAsync("frobnicate");
        Assert.Equal(2, run.ExitCode);
        Assert.StartsWith("iser: unknown command 'frobnicate'.", run.Error);
    }

    [Fact]
    public async Task Unreachable_portal_gives_one_sentence_and_exit_code_1()
    {
        // A port that was just free on loopback: nothing listens there.
        var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        probe.Start();
        int port = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        var run = await CliRun.RunAsync("discover", $"127.0.0.1:{port}");
        Assert.True(run.ExitCode == 1, run.ToString());
        var line = Assert.Single(run.Error.Trim().Split('\n'));
        Assert.Contains($"Cannot connect to 127.0.0.1:{port}", line);
        Assert.EndsWith(".", line);
    }

    [Fact]
    public async Task Unknown_target_is_refused_with_the_targets_reason()
    {
        var run = await CliRun.RunAsync("inq", $"iscsi://{target.Portal}/iqn.2026-11.org.iser.test:nobody/0");
        Assert.True(run.ExitCode == 1, run.ToString());
        var line = Assert.Single(run.Error.Trim().Split('\n'));
        Assert.Contains("target not found", line);
    }

    [Fact]
    public async Task Reading_past_the_end_is_refused_before_sending()
    {
        var run = await CliRun.RunAsync("read", target.Url, "--lba", (CliTargetFixture.LunBytes / 512 - 1).ToString(CultureInfo.InvariantCulture), "--count", "2");
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("beyond the end of LUN 0", run.Error);
    }

    [Fact]
    public async Task Transport_iser_says_why_it_cannot_run_and_auto_falls_back_to_tcp()
    {
        var iser = await CliRun.RunAsync("inq", target.Url, "--transport", "iser");
        Assert.Equal(1, iser.ExitCode);
        Assert.StartsWith("iser inq: iSER is not available: ", iser.Error);

        var auto = await CliRun.RunAsync("discover", target.Portal, "--transport", "auto");
        Assert.True(auto.ExitCode == 0, auto.ToString());
        Assert.StartsWith("iSER not available: ", auto.Error);
        Assert.Contains(CliTargetFixture.Iqn, auto.Out);
    }
}
