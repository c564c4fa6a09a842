using System.Diagnostics;
using System.Globalization;
using Iser.Core.Iscsi.Initiator;
using Iser.Transport.Iser.Datamover;
using Iser.Transport.Iser.Fallback;
using Iser.Transport.Tcp;
using Microsoft.Extensions.Logging.Abstractions;

namespace Iser.Bench;

/// <summary>
/// Many sessions against one running target process (ours or tgtd), each its own TCP connection, from this process:
/// for each count N, log N sessions in (one 4 KiB READ each, verified against what was written first), then while all
/// are held measure the target's RSS and threads (from /proc), one more login plus READ, and 4 KiB random reads on
/// every session for a few seconds (aggregate IOPS, p99). Then they log out and the next count starts.
/// With <c>--transport iser</c> each session is one iSER connection instead, and the target's registered memory (the
/// MRs `rdma resource show mr` lists, less this process's) is added, per session over what it held with no session;
/// and the client's own side: its threads and the memory its threads registered, per session.
/// <c>dotnet run -c Release --project bench/Iser.Bench -- sessions --portal 127.0.0.1:3260 --iqn IQN --pid PID
/// [--counts 10,100,1000] [--depth 4] [--seconds 5] [--transport tcp|iser] [--iser-queues shared|own]</c>
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
        s_iser = Value("--transport", "tcp") switch
        {
            "tcp" => false,
            "iser" => true,
            var other => throw new ArgumentException($"--transport is tcp or iser, not '{other}'."),
        };
        s_iserOptions = Value("--iser-queues", "shared") switch
        {
            "shared" => new IserOptions(),
            "own" => new IserOptions { ShareConnectionResources = false },
            var other => throw new ArgumentException($"--iser-queues is shared or own, not '{other}'."),
        };
        Console.Error.WriteLine(OpenFileLimit.RaiseToHardLimit());

        // A known block to read back: written once through a first session.
        var pattern = new byte[4096];
        new Random(42).NextBytes(pattern);
        await using (var first = await ConnectAsync(host, port, iqn, "iqn.2026-12.org.iser.bench:writer"))
            await (await first.OpenLunAsync(LunNumber)).WriteAsync(0, pattern);

        Console.WriteLine("| sessions | login all (s) | target RSS (MiB) | RSS per session (KiB) | target threads | new login + READ (ms) | IOPS (all sessions) | p99 (ms) |"
            + (s_iser ? " target MRs | registered (MiB) | registered per session (KiB) | client threads | client registered per session (KiB) |" : ""));
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---:|" + (s_iser ? "---:|---:|---:|---:|---:|" : ""));
        // The client's threads, sampled all along: an MR lists the thread that registered it, which may have ended since.
        using var sampling = new CancellationTokenSource();
        var sampler = s_iser ? Task.Run(() => SampleClientThreadsAsync(sampling.Token)) : Task.CompletedTask;
        var (baseRss, _) = TargetFigures(pid);
        var (_, baseRegistered, _, baseClient) = s_iser ? RegisteredMemory() : (0, 0L, 0, 0L);
        foreach (int count in counts)
        {
            try
            {
                await RunCountAsync(count);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // The target gave up (a peer's limit is a result too): say so in the table and stop counting up.
                Console.WriteLine($"| {count} | failed: {e.GetType().Name}: {e.Message.ReplaceLineEndings(" ")} |");
                sampling.Cancel();
                return 1;
            }
        }
        sampling.Cancel();
        await sampler;
        return 0;

        async Task RunCountAsync(int count)
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
            var (regions, registered, _, clientRegistered) = s_iser ? RegisteredMemory() : (0, 0L, 0, 0L);
            int clientThreads = s_iser ? ClientThreads() : 0;

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
            // Registered memory again after the I/O: pools grown by load count too.
            if (s_iser)
            {
                var after = RegisteredMemory();
                if (after.TargetBytes > registered) (regions, registered) = (after.TargetRegions, after.TargetBytes);
                clientRegistered = Math.Max(clientRegistered, after.ClientBytes);
                clientThreads = Math.Max(clientThreads, ClientThreads());
            }

            foreach (var session in sessions) await session.DisposeAsync();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {count} | {loginAll:0.00} | {rss / 1024.0:0.0} | {(rss - baseRss) / (double)count:0.0} | {threads} | {extraMs:0.0} | {iops:0} | {p99:0.00} |")
                + (s_iser ? string.Create(CultureInfo.InvariantCulture,
                    $" {regions} | {registered / 1048576.0:0.0} | {(registered - baseRegistered) / 1024.0 / count:0.0} | {clientThreads} | {(clientRegistered - baseClient) / 1024.0 / count:0.0} |") : ""));
            await Task.Delay(2000); // the target winds the sessions down before the next count
        }
    }

    private static int LunNumber => int.Parse(Environment.GetEnvironmentVariable("SCALE_LUN") ?? "0", CultureInfo.InvariantCulture);

    private static bool s_iser;
    private static IserOptions s_iserOptions = new();

    private static Task<IscsiSession> ConnectAsync(string host, int port, string iqn, string initiator) =>
        IscsiSession.ConnectAsync(new IscsiSessionOptions
        {
            Host = host, Port = port, TargetName = iqn, InitiatorName = initiator,
            LoginTimeout = TimeSpan.FromSeconds(60), NopInterval = TimeSpan.FromSeconds(60),
        // The runtime's asynchronous sockets, not a receive thread per connection (the default on Linux): a client
        // holding 10,000 sessions would otherwise need 10,000-20,000 threads, past vm.max_map_count's 65,530 mappings.
        }, s_iser
            ? InitiatorTransports.Create(TransportKind.Iser, NullLoggerFactory.Instance, s_iserOptions)
            : new TcpInitiatorTransport(options: new TcpInitiatorOptions { ReceiveThread = false }));

    private static readonly HashSet<string> s_clientThreads = [];

    private static async Task SampleClientThreadsAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            NoteClientThreads();
            try { await Task.Delay(20, ct); } catch (OperationCanceledException) { }
        }
    }

    private static void NoteClientThreads()
    {
        var now = Directory.EnumerateDirectories("/proc/self/task").Select(Path.GetFileName).OfType<string>();
        lock (s_clientThreads) s_clientThreads.UnionWith(now);
    }

    private static int ClientThreads() => Directory.EnumerateDirectories("/proc/self/task").Count();

    /// <summary>
    /// The memory regions the target and this client hold and their bytes, from iproute2's `rdma resource show mr`. Its
    /// lines carry "mrlen N" and "pid P", where P is the thread that registered the region (not its process), and that
    /// thread may be gone: a region registered by a thread this process ever had (sampled every 20 ms) is the
    /// client's, every other region the target's, the only other RDMA user in the run.
    /// </summary>
    private static (int TargetRegions, long TargetBytes, int ClientRegions, long ClientBytes) RegisteredMemory()
    {
        NoteClientThreads();
        int regions = 0, clientRegions = 0;
        long bytes = 0, clientBytes = 0;
        foreach (var words in RdmaResources("mr"))
        {
            if (Field(words, "pid") is not { } thread || Field(words, "mrlen") is not { } length) continue;
            long n = long.Parse(length, CultureInfo.InvariantCulture);
            bool client;
            lock (s_clientThreads) client = s_clientThreads.Contains(thread);
            if (client)
            {
                clientRegions++;
                clientBytes += n;
            }
            else
            {
                regions++;
                bytes += n;
            }
        }
        return (regions, bytes, clientRegions, clientBytes);
    }

    private static List<string[]> RdmaResources(string kind)
    {
        var start = new ProcessStartInfo("rdma", $"resource show {kind}") { RedirectStandardOutput = true, RedirectStandardError = true };
        using var rdma = Process.Start(start) ?? throw new InvalidOperationException($"`rdma resource show {kind}` did not start (iproute2's rdma tool).");
        string output = rdma.StandardOutput.ReadToEnd();
        rdma.WaitForExit();
        if (rdma.ExitCode != 0) throw new InvalidOperationException($"`rdma resource show {kind}` failed: {rdma.StandardError.ReadToEnd()}");
        return output.Split('\n').Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToList();
    }

    private static string? Field(string[] words, string name)
    {
        int i = Array.IndexOf(words, name);
        return i >= 0 && i + 1 < words.Length ? words[i + 1] : null;
    }

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
