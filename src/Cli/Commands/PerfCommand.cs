using System.Globalization;
using System.CommandLine;
using Iser.Cli.Client;
using Iser.Cli.CommandLine;
using Iser.Cli.Perf;
using Iser.Core.Iscsi.Initiator;

namespace Iser.Cli.Commands;

/// <summary>
/// `iser perf URL`: a load generator over one session (like libiscsi's iscsi-perf, with fio's mode names): many
/// commands in flight, a progress line each second on stderr, and at the end IOPS, MB/s and latency percentiles —
/// as text, or as JSON with --json.
/// </summary>
internal static class PerfCommand
{
    public static Command Create(CommandConsole console)
    {
        var urlArgument = TypedArguments.LunUrl();
        var mode = TypedOptions.Choice<PerfMode?>("--mode", "The pattern, with fio's names (default randread).",
            [("randread", PerfMode.RandRead), ("randwrite", PerfMode.RandWrite), ("read", PerfMode.Read), ("write", PerfMode.Write),
             ("randrw", PerfMode.RandRW), ("seqread", PerfMode.Read), ("seqwrite", PerfMode.Write)]);
        var mix = TypedOptions.Int("--mix", "randrw: the percentage of reads.", 0, 100, 70);
        var blockSize = TypedOptions.Size("--block-size", "Bytes per command, at most 16M (default 4k).",
            n => n > 16 << 20 ? "--block-size may be at most 16M (one command)." : null, "-b");
        var depth = TypedOptions.Int("--queue-depth", "Commands in flight.", 1, 1024, 32, "-q");
        var duration = TypedOptions.Duration("--duration", "How long the measured run lasts (default 10s).", "-t");
        // Like fio's ramp_time: load that is run first and not counted (JIT, caches, registrations settle).
        var ramp = TypedOptions.Duration("--ramp", "The same load run first and not counted (JIT, caches and registrations settle).");
        var region = TypedOptions.Size("--size", "Use only the first SIZE bytes of the LUN.");
        var json = TypedOptions.Flag("--json", "The figures as JSON on stdout.");
        var quiet = TypedOptions.Flag("--quiet", "No progress lines on stderr.");
        var allocations = TypedOptions.Flag("--allocations", "Which types the process allocates during the run (sampled).");
        var compare = TypedOptions.Text("--compare", "The same load over each transport in turn, one side-by-side table.", "tcp,iser");
        compare.CompletionSources.Add("tcp,iser", "iser,tcp", "tcp", "iser");
        compare.Validators.Add(r =>
        {
            try
            {
                ParseTransports(r.GetValueOrDefault<string>() ?? "");
            }
            catch (UsageException e)
            {
                r.AddError(e.Message);
            }
        });
        var plot = PerfPlot.FileOption();
        var command = new Command("perf", "A load generator over one session: IOPS, MB/s and latency percentiles, a progress line each second.")
        {
            urlArgument, mode, mix, blockSize, depth, duration, ramp, region, json, quiet, allocations, compare, plot,
        };
        var client = new ClientCommandLine();
        client.AddTo(command);
        command.Validators.Add(r =>
        {
            if (r.GetValue(compare) is not null && (r.GetValue(json) || r.GetValue(allocations)))
                r.AddError("--compare prints one table for every transport; --json and --allocations take a single run.");
        });
        command.SetAction((parse, ct) =>
        {
            var workload = new PerfWorkload
            {
                Mode = parse.GetValue(mode) ?? PerfMode.RandRead, ReadPercent = parse.GetValue(mix)!.Value,
                TransferBytes = (int)(parse.GetValue(blockSize) ?? 4096), QueueDepth = parse.GetValue(depth)!.Value,
                Duration = parse.GetValue(duration) ?? TimeSpan.FromSeconds(10), RegionBytes = parse.GetValue(region),
            };
            var compareText = parse.GetValue(compare);
            var run = new PerfRun(parse.GetValue(urlArgument)!, workload, parse.GetValue(ramp) ?? TimeSpan.Zero, parse.GetValue(json),
                parse.GetValue(quiet), parse.GetValue(allocations), compareText is null ? null : ParseTransports(compareText), parse.GetValue(plot));
            return RunAsync(run, client.Read(parse), console, ct);
        });
        return command;
    }

    /// <summary>One `iser perf` as parsed.</summary>
    private sealed record PerfRun(IscsiUrl Url, PerfWorkload Workload, TimeSpan Ramp, bool Json, bool Quiet, bool Allocations,
        IReadOnlyList<TransportChoice>? Compare, string? PlotPath);

    private static async Task<int> RunAsync(PerfRun run, ClientOptions clientOptions, CommandConsole console, CancellationToken ct)
    {
        using var client = clientOptions;
        var (url, workload, ramp, json, quiet, allocations, compare, plotPath) = run;
        var duration = workload.Duration;
        var rampLoad = ramp > TimeSpan.Zero ? workload with { Duration = ramp } : null;
        if (compare is not null)
            return await PerfComparison.RunAsync(client, url, compare, workload, rampLoad, quiet, plotPath, console, ct).ConfigureAwait(false);
        var session = await ClientConnection.ConnectAsync(client, url, console, ct).ConfigureAwait(false);
        await using (session.ConfigureAwait(false))
        {
            var lun = await ClientConnection.OpenLunAsync(session, url, ct).ConfigureAwait(false);
            if (rampLoad is not null)
            {
                if (!quiet) console.Error.WriteLine($"ramp: {ramp.TotalSeconds:0.###} s of the same load, not counted ...");
                await new PerfRunner(session, url.Lun, lun.BlockCount, lun.BlockSize, rampLoad).RunAsync(null, ct).ConfigureAwait(false);
            }
            var runner = new PerfRunner(session, url.Lun, lun.BlockCount, lun.BlockSize, workload);
            if (!quiet) console.Error.WriteLine($"{PerfReport.Title(workload)} on {url} for {duration.TotalSeconds:0.###} s ...");
            using var sampler = allocations ? new AllocationSampler() : null;
            sampler?.Start();
            var timeline = plotPath is null ? null : new PerfTimeline();
            var result = await runner.RunAsync(PerfTimeline.Both(quiet ? null : Progress(console), timeline), ct).ConfigureAwait(false);
            sampler?.Stop();
            if (!quiet && console.ErrorIsTerminal) console.Error.WriteLine();
            if (json) PerfReport.WriteJson(console.Out, result, url.ToString());
            else PerfReport.WriteText(console.Out, result);
            sampler?.Report(console.Error, result.Commands);
            if (plotPath is not null) PerfPlot.Save(plotPath, workload, [new PerfPlot.Series(client.TransportName(url), result, timeline!)], console.Error);
            if (ct.IsCancellationRequested)
            {
                console.Error.WriteLine($"iser perf: stopped by Ctrl-C after {result.Elapsed.TotalSeconds:0.0} s; the figures cover that time.");
                return CommandRouter.CancelledExitCode;
            }
        }
        return 0;
    }

    /// <summary>--compare tcp,iser: the transports to run the same workload over, in that order.</summary>
    internal static IReadOnlyList<TransportChoice> ParseTransports(string text)
    {
        var list = new List<TransportChoice>();
        foreach (var name in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var choice = name.ToLowerInvariant() switch
            {
                "tcp" => TransportChoice.Tcp,
                "iser" => TransportChoice.Iser,
                _ => throw new UsageException($"--compare takes transports from tcp and iser (e.g. tcp,iser), not '{name}'."),
            };
            if (!list.Contains(choice)) list.Add(choice);
        }
        if (list.Count == 0) throw new UsageException("--compare needs at least one transport (e.g. tcp,iser).");
        return list;
    }

    /// <summary>One line a second; on a terminal it rewrites itself in place.</summary>
    internal static Action<TimeSpan, double, double> Progress(CommandConsole console) => (elapsed, iops, mbps) =>
    {
        string line = string.Create(CultureInfo.InvariantCulture, $"[{elapsed.TotalSeconds,4:0}s] {iops,9:0} IOPS {mbps,9:0.0} MB/s");
        if (console.ErrorIsTerminal) console.Error.Write("\r" + line);
        else console.Error.WriteLine(line);
    };
}
