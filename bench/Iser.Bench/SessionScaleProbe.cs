using System.Diagnostics;
using System.Globalization;
using Iser.Core.Iscsi.Initiator;
using Iser.Transport.Tcp;

namespace Iser.Bench;

/// <summary>
/// Many sessions against one running target process (ours or tgtd), each its own TCP connection, from this process:
/// for each count N, log N sessions in (one 4 KiB READ each, verified against what was written first), then while all
/// are held measure the target's RSS and threads (from /proc), one more login plus READ, and 4 KiB random reads on
/// every session for a few seconds (aggregate IOPS, p99). Then they log out and the next count starts.
/// <c>dotnet run -c Release --project bench/Iser.Bench -- sessions --portal 127.0.0.1:3260 --iqn IQN --pid PID
/// [--counts 10,100,1000] [--depth 4] [--seconds 5]</c>
/// </summary>
internal static class SessionScaleProbe
{
    public static async Task<int> RunAsync(string[] args)
    {
        string Value(string name, string? fallback = null)
        {
            int i = Array.IndexOf(args, name);
            return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback ?? throw new ArgumentException($"{name} is required.");
        }
        var portal = Value("--portal");
        string host = portal[..portal.LastIndexOf(':')];
        int port = int.Parse(portal[(portal.LastIndexOf(':') + 1)..], CultureInfo.InvariantCulture);
        string iqn = Value("--iqn");
        int pid = int.Parse(Value("--pid"), CultureInfo.InvariantCulture);
        int[] counts = Value("--counts", "10,100,1000").Split(',').Select(c => int.Parse(c, CultureInfo.InvariantCulture)).ToArray();
        int depth = int.Parse(Value("--depth", "4"), CultureInfo.InvariantCulture);
        int seconds = int.Parse(Value("--seconds", "5"), CultureInfo.InvariantCulture);
        Console.Error.WriteLine(OpenFileLimit.RaiseToHardLimit());

        // A known block to read back: written once through a first session.
        var pattern = new byte[4096];
        new Random(42).NextBytes(pattern);
        await using (var first = await ConnectAsync(host, port, iqn, "iqn.2026-12.org.iser.bench:writer"))
            await (await first.OpenLunAsync(LunNumber)).WriteAsync(0, pattern);

        Console.WriteLine("| sessions | login all (s) | target RSS (MiB) | RSS per session (KiB) | target threads | new login + READ (ms) | IOPS (all sessions) | p99 (ms) |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---:|");
        var (baseRss, _) = TargetFigures(pid);
        foreach (int count in counts)
        {
            var sessions = new IscsiSession[count];
            var luns = new IscsiLun[count];
            var clock = Stopwatch.StartNew();
            using (var parallel = new SemaphoreSlim(64))
            {
                await Task.WhenAll(Enumerable.Range(0, count).Select(async i =>
                {
                    await parallel.WaitAsync();
                    try
                    {
                        sessions[i] = await ConnectAsync(host, port, iqn, $"iqn.2026-12.org.iser.bench:s{i}");
                        luns[i] = await sessions[i].OpenLunAsync(LunNumber);
                        var back = new byte[4096];
                        await luns[i].ReadAsync(0, back);
                        if (!back.AsSpan().SequenceEqual(pattern)) throw new InvalidDataException($"session {i} read back other data");
                    }
                    finally { parallel.Release(); }
                }));
            }
            double loginAll = clock.Elapsed.TotalSeconds;
            var (rss, threads) = TargetFigures(pid);

            clock.Restart();
            await using (var extra = await ConnectAsync(host, port, iqn, "iqn.2026-12.org.iser.bench:extra"))
                await (await extra.OpenLunAsync(LunNumber)).ReadAsync(0, new byte[4096]);
            double extraMs = clock.Elapsed.TotalMilliseconds;

            var latencies = new List<double>[count];
            long commands = 0;
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
            clock.Restart();
            await Task.WhenAll(Enumerable.Range(0, count).SelectMany(i => Enumerable.Range(0, depth).Select(async _ =>
            {
                var buffer = new byte[4096];
                var mine = new List<double>();
                var rng = new Random(i);
                var one = Stopwatch.StartNew();
                while (!stop.IsCancellationRequested)
                {
                    one.Restart();
                    await luns[i].ReadAsync(rng.NextInt64(0, luns[i].BlockCount - 8) & ~7L, buffer);
                    mine.Add(one.Elapsed.TotalMilliseconds);
                }
                Interlocked.Add(ref commands, mine.Count);
                lock (latencies) (latencies[i] ??= []).AddRange(mine);
            })));
            double iops = commands / clock.Elapsed.TotalSeconds;
            var all = latencies.Where(l => l is not null).SelectMany(l => l).Order().ToArray();
            double p99 = all.Length == 0 ? 0 : all[(int)Math.Min(all.Length - 1, Math.Ceiling(all.Length * 0.99) - 1)];

            foreach (var session in sessions) await session.DisposeAsync();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {count} | {loginAll:0.00} | {rss / 1024.0:0.0} | {(rss - baseRss) / (double)count:0.0} | {threads} | {extraMs:0.0} | {iops:0} | {p99:0.00} |"));
            await Task.Delay(2000); // the target winds the sessions down before the next count
        }
        return 0;
    }

    private static int LunNumber => int.Parse(Environment.GetEnvironmentVariable("SCALE_LUN") ?? "0", CultureInfo.InvariantCulture);

    private static Task<IscsiSession> ConnectAsync(string host, int port, string iqn, string initiator) =>
        IscsiSession.ConnectAsync(new IscsiSessionOptions
        {
            Host = host, Port = port, TargetName = iqn, InitiatorName = initiator,
            LoginTimeout = TimeSpan.FromSeconds(60), NopInterval = TimeSpan.FromSeconds(60),
        // The runtime's asynchronous sockets, not a receive thread per connection (the default on Linux): a client
        // holding 10,000 sessions would otherwise need 10,000-20,000 threads, past vm.max_map_count's 65,530 mappings.
        }, new TcpInitiatorTransport(options: new TcpInitiatorOptions { ReceiveThread = false }));

    /// <summary>VmRSS (KiB) and Threads of the target process, from /proc/PID/status.</summary>
    private static (long RssKiB, int Threads) TargetFigures(int pid)
    {
        long rss = 0;
        int threads = 0;
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal)) rss = long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
            else if (line.StartsWith("Threads:", StringComparison.Ordinal)) threads = int.Parse(line.Split('\t', StringSplitOptions.RemoveEmptyEntries)[1].Trim(), CultureInfo.InvariantCulture);
        }
        return (rss, threads);
    }
}
