using System.Diagnostics;
using System.Net;
using Iser.Core.Iscsi.Initiator;
using Iser.Core.Iscsi.Target;
using Iser.Core.Scsi.Target;
using Iser.Core.Scsi.Target.Stores;
using Iser.Transport.Tcp;

namespace Iser.Bench;

/// <summary>
/// What ErrorRecoveryLevel 1 holds in memory at the target: tasks kept after their status (with their read data)
/// until the initiator's ExpStatSN acknowledges them. Our target and initiator in one process over TCP on 127.0.0.1,
/// 32 commands in flight; the target's retained tasks and bytes sampled every millisecond.
/// <c>dotnet run -c Release --project bench/Iser.Bench -- retention [--seconds 5]</c>
/// </summary>
internal static class RetentionProbe
{
    public static async Task<int> RunAsync(string[] args)
    {
        int seconds = args.Length > 1 && args[0] == "--seconds" ? int.Parse(args[1]) : 5;
        const int depth = 32;
        const long blocks = 128L * 1024 * 1024 / 512;
        await using var target = new IscsiTarget(new IscsiTargetOptions { NopInInterval = TimeSpan.Zero, ErrorRecoveryLevel = 1 });
        var node = new TargetNode("iqn.2026-12.org.iser.bench:retention");
        node.AddLun(0, new BlockDeviceLogicalUnit(new RamBackingStore(blocks * 512), new BlockDeviceOptions { BlockSize = 512 }));
        target.AddNode(node);
        var listener = new TcpDatamoverListener(new IPEndPoint(IPAddress.Loopback, 0), Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        target.Listen(listener);
        Console.WriteLine($"| Workload ({depth} in flight, {seconds} s, ERL 1) | Commands/s | Retained tasks p50 / max | Retained bytes p50 / max | Read data in flight |");
        Console.WriteLine("|---|---|---|---|---|");
        foreach (var (name, size, write, random) in new[]
                 {
                     ("4 KiB random read", 4096, false, true),
                     ("128 KiB sequential read", 131072, false, false),
                     ("4 KiB random write", 4096, true, true),
                 })
        {
            var options = new IscsiSessionOptions
            {
                Host = "127.0.0.1",
                Port = listener.LocalEndPoint.Port,
                TargetName = node.Iqn,
                ErrorRecoveryLevel = 1,
                NopInterval = TimeSpan.Zero,
            };
            await using var session = await IscsiSession.ConnectAsync(options, new TcpInitiatorTransport());
            var lun = await session.OpenLunAsync(0);
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
            long commands = 0;
            var samples = new List<(int Tasks, long Bytes)>();
            var sampler = Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    samples.Add(target.RetainedForRecovery);
                    await Task.Delay(1);
                }
            });
            var clock = Stopwatch.StartNew();
            var workers = Enumerable.Range(0, depth).Select(w => Task.Run(async () =>
            {
                var buffer = new byte[size];
                var rng = new Random(w);
                long span = blocks - size / 512;
                long lba = w * (size / 512) % span;
                while (!stop.IsCancellationRequested)
                {
                    lba = random ? rng.NextInt64(span) / (size / 512) * (size / 512) : (lba + size / 512 * depth) % span;
                    if (write) await lun.WriteAsync(lba, buffer);
                    else await lun.ReadAsync(lba, buffer);
                    Interlocked.Increment(ref commands);
                }
            })).ToArray();
            await Task.WhenAll(workers);
            clock.Stop();
            await sampler;
            var tasks = samples.Select(s => s.Tasks).Order().ToArray();
            var bytes = samples.Select(s => s.Bytes).Order().ToArray();
            Console.WriteLine($"| {name} | {commands / clock.Elapsed.TotalSeconds:0} | {tasks[tasks.Length / 2]} / {tasks[^1]} " +
                              $"| {Kib(bytes[bytes.Length / 2])} / {Kib(bytes[^1])} | {Kib(write ? 0 : (long)size * depth)} |");
        }
        return 0;
    }

    private static string Kib(long bytes) => $"{bytes / 1024.0:0} KiB";
}
