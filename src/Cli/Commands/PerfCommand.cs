using System.Globalization;
using Iser.Cli.Client;
using Iser.Cli.Perf;

namespace Iser.Cli.Commands;

/// <summary>
/// `iser perf URL`: a load generator over one session (like libiscsi's iscsi-perf, with fio's mode names): many
/// commands in flight, a progress line each second on stderr, and at the end IOPS, MB/s and latency percentiles —
/// as text, or as JSON with --json.
/// </summary>
internal static class PerfCommand
{
    public static async Task<int> RunAsync(ArgumentReader args, CommandConsole console, CancellationToken ct)
    {
        using var client = ClientOptions.Read(args);
        var modeText = args.Value("--mode") ?? "randread";
        var mode = PerfWorkload.ParseMode(modeText)
            ?? throw new UsageException($"--mode must be randread, randwrite, read, write or randrw, not '{modeText}'.");
        int mix = args.Int("--mix") ?? 70;
        if (mix is < 0 or > 100) throw new UsageException($"--mix is the percentage of reads, 0-100, not {mix}.");
        long blockSize = args.Size("--block-size", "-b") ?? 4096;
        if (blockSize > 16 << 20) throw new UsageException("--block-size may be at most 16M (one command).");
        int depth = args.Int("--queue-depth", "-q") ?? 32;
        if (depth is < 1 or > 1024) throw new UsageException($"--queue-depth must be 1 to 1024, not {depth}.");
        var duration = args.Duration("--duration", "-t") ?? TimeSpan.FromSeconds(10);
        // Like fio's ramp_time: load that is run first and not counted (JIT, caches, registrations settle).
        var ramp = args.Duration("--ramp") ?? TimeSpan.Zero;
        long? region = args.Size("--size");
        bool json = args.Flag("--json");
        bool quiet = args.Flag("--quiet");
        bool allocations = args.Flag("--allocations");
        var compare = args.Value("--compare");
        var url = PortalAddress.ParseLunUrl(DiscoverCommand.SinglePositional(args, "URL"));
        args.EnsureAllUsed();

        var workload = new PerfWorkload
        {
            Mode = mode, ReadPercent = mix, TransferBytes = (int)blockSize, QueueDepth = depth, Duration = duration, RegionBytes = region,
        };
        var rampLoad = ramp > TimeSpan.Zero ? workload with { Duration = ramp } : null;
        if (compare is not null)
        {
            if (json || allocations) throw new UsageException("--compare prints one table for every transport; --json and --allocations take a single run.");
            return await PerfComparison.RunAsync(client, url, ParseTransports(compare), workload, rampLoad, quiet, console, ct).ConfigureAwait(false);
        }
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
            var result = await runner.RunAsync(quiet ? null : Progress(console), ct).ConfigureAwait(false);
            sampler?.Stop();
            if (!quiet && console.ErrorIsTerminal) console.Error.WriteLine();
            if (json) PerfReport.WriteJson(console.Out, result, url.ToString());
            else PerfReport.WriteText(console.Out, result);
            sampler?.Report(console.Error, result.Commands);
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
