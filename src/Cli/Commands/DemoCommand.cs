using Iser.Transport.Iser.Verbs;
using Iser.Transport.Iser.Fallback;
using System.Diagnostics;
using System.Globalization;
using System.CommandLine;
using Iser.Cli.Client;
using Iser.Cli.CommandLine;
using Iser.Cli.Demo;
using Iser.Cli.Perf;
using Iser.Core.Iscsi.Initiator;
using Iser.Transport.Tcp;

namespace Iser.Cli.Commands;

/// <summary>
/// `iser demo`: the whole stack in one process. Starts a target with a RAM LUN on 127.0.0.1, logs in to it, writes
/// random data across the LUN at several transfer sizes, reads it all back and compares, runs two short perf loads,
/// and prints a table. Exits 0 only when every byte read back matched.
/// </summary>
internal static class DemoCommand
{
    private static readonly int[] TransferSizes = [4 << 10, 64 << 10, 1 << 20];
    private const int VerifyQueueDepth = 8;

    public static Command Create(CommandConsole console)
    {
        var transportOption = TypedOptions.Choice<string>("--transport", "iSER when an RDMA device can carry it (auto, the default), or the one named.",
            [("auto", "auto"), ("tcp", "tcp"), ("iser", "iser")]);
        var sizeOption = TypedOptions.Size("--size", "The RAM LUN's size: a whole number of MiB, at least 3M (default 64M).",
            n => n < 3L << 20 || n % (1 << 20) != 0 ? "--size must be a whole number of MiB, at least 3M." : null);
        var secondsOption = TypedOptions.Duration("--seconds", "How long each of the two perf loads runs (default 3s).", "--duration");
        var logLevelOption = ClientCommandLine.LogLevelOption("--log-level", "Minimum log level on stderr (default warning; the target's own: error).");
        var command = new Command("demo", "Start a target in this process, write, read back, verify and measure it; prints a table.")
        {
            transportOption, sizeOption, secondsOption, logLevelOption,
        };
        command.SetAction((parse, ct) => RunAsync(parse.GetValue(transportOption) ?? "auto", parse.GetValue(sizeOption) ?? 64L << 20,
            parse.GetValue(secondsOption) ?? TimeSpan.FromSeconds(3), parse.GetValue(logLevelOption), console, ct));
        return command;
    }

    private static async Task<int> RunAsync(string transportText, long size, TimeSpan seconds, string? logLevel, CommandConsole console, CancellationToken ct)
    {
        using var loggerFactory = Logging.Create(logLevel);
        // The target's own shutdown notes (e.g. the listener's cancelled accept) are noise here unless asked for.
        using var targetLoggerFactory = Logging.Create(logLevel ?? "error");
        var o = console.Out;

        // Transport: iSER needs an RDMA device with an IP address (rdma_cm cannot route over loopback); say plainly
        // which is missing, and use TCP then.
        // The host's own steps (module, device, address, permissions) first, each with its fix; rdma-core's libraries after.
        string? iserMissing = (OperatingSystem.IsLinux() ? IserPrerequisites.FindMissingStep(RdmaHostView.Local)?.ToString() : null)
            ?? IserAvailability.NotAvailableReason();
        var iserAddress = iserMissing is null ? RdmaNetworkAddresses.FindIPv4() : null;
        if (iserMissing is null && iserAddress is null) iserMissing = "no RDMA-capable network interface has an IPv4 address";
        if (transportText == "iser" && iserMissing is not null) throw new InvalidOperationException($"iSER is not available: {iserMissing}.");
        bool useIser = transportText != "tcp" && iserMissing is null;
        o.WriteLine(useIser ? $"Transport: iSER (RDMA device present; portal {iserAddress})"
            : transportText == "tcp" ? "Transport: TCP (asked for with --transport tcp)" : $"Transport: TCP (iSER not available: {iserMissing})");

        await using var target = EmbeddedTarget.Start(size, targetLoggerFactory, iserAddress: useIser ? iserAddress : null);
        string portals = target.IserEndPoint is { } iserPortal ? $"{target.Portal} (TCP) and {iserPortal} (iSER)" : target.Portal;
        o.WriteLine($"Target:    {target.Iqn} on {portals}, LUN 0 = {SizeText.Format(size)} in RAM ({target.Unit.BlockSize}-byte blocks)");
        var portal = useIser ? target.IserEndPoint! : target.EndPoint;
        var options = new IscsiSessionOptions
        {
            Host = portal.Address.ToString(), Port = portal.Port, TargetName = target.Iqn, LoggerFactory = loggerFactory,
            Reconnect = new ReconnectOptions { Enabled = false },
        };
        var transport = useIser
            ? InitiatorTransports.Create(TransportKind.Iser, loggerFactory)
            : new TcpInitiatorTransport(loggerFactory.CreateLogger("Iser.Transport.Tcp"));
        var session = await IscsiSession.ConnectAsync(options, transport, ct).ConfigureAwait(false);
        await using (session.ConfigureAwait(false))
        {
            var lun = await session.OpenLunAsync(0, ct).ConfigureAwait(false);
            var n = session.Negotiated.Connection;
            o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Session:   logged in as {session.Negotiated.InitiatorName}; {lun.BlockCount} blocks; MaxRecvDataSegmentLength {n.MaxRecvDataSegmentLength}, MaxBurstLength {n.MaxBurstLength}, ImmediateData {(n.ImmediateData ? "Yes" : "No")}, InitialR2T {(n.InitialR2T ? "Yes" : "No")}"));
            o.WriteLine();

            var rows = new List<string[]>();
            bool allVerified = true;
            // The LUN in one region per transfer size, each filled with its own random bytes.
            var expected = GC.AllocateUninitializedArray<byte>(checked((int)size));
            Random.Shared.NextBytes(expected);
            long regionBytes = size / TransferSizes.Length / (1 << 20) * (1 << 20);
            for (int i = 0; i < TransferSizes.Length; i++)
            {
                int transfer = TransferSizes[i];
                long start = i * regionBytes;
                long length = i == TransferSizes.Length - 1 ? size - start : regionBytes;
                var written = await TransferAsync(lun, expected, start, length, transfer, write: true, ct).ConfigureAwait(false);
                rows.Add(Row($"write random data", transfer, written, check: "-"));
            }
            await lun.FlushAsync(ct).ConfigureAwait(false);
            for (int i = 0; i < TransferSizes.Length; i++)
            {
                // Read each region back with a different transfer size than it was written with.
                int transfer = TransferSizes[(i + 1) % TransferSizes.Length];
                long start = i * regionBytes;
                long length = i == TransferSizes.Length - 1 ? size - start : regionBytes;
                var read = await TransferAsync(lun, expected, start, length, transfer, write: false, ct).ConfigureAwait(false);
                allVerified &= read.Mismatch is null;
                rows.Add(Row($"read back + compare ({SizeText.Format(length)} written at {SizeText.Transfer(TransferSizes[i])})", transfer, read,
                    check: read.Mismatch is { } m ? $"MISMATCH at byte {m}" : "ok"));
            }

            var progress = (Action<TimeSpan, double, double>?)null;
            foreach (var workload in new[]
            {
                new PerfWorkload { Mode = PerfMode.RandRead, TransferBytes = 4096, QueueDepth = 32, Duration = seconds },
                new PerfWorkload { Mode = PerfMode.Read, TransferBytes = 128 << 10, QueueDepth = 8, Duration = seconds },
            })
            {
                console.Error.WriteLine($"perf: {PerfReport.Title(workload)} for {seconds.TotalSeconds:0.#} s ...");
                var result = await new PerfRunner(session, 0, lun.BlockCount, lun.BlockSize, workload).RunAsync(progress, ct).ConfigureAwait(false);
                ct.ThrowIfCancellationRequested();
                rows.Add([$"perf {PerfWorkload.Name(workload.Mode)}, {workload.QueueDepth} in flight", SizeText.Transfer(workload.TransferBytes),
                    result.Commands.ToString(CultureInfo.InvariantCulture), F(result.MegabytesPerSecond, "0.0"), F(result.Iops, "0"),
                    F(result.Latency.Percentile(50) / 1000.0, "0"), F(result.Latency.Percentile(99) / 1000.0, "0"), "-"]);
            }

            WriteTable(o, ["step", "transfer", "commands", "MB/s", "IOPS", "p50 µs", "p99 µs", "check"], rows);
            o.WriteLine();
            o.WriteLine(allVerified
                ? $"All {SizeText.Format(size)} read back equal to what was written. The stack works end to end."
                : "FAILED: data read back differs from what was written.");
            await session.LogoutAsync(ct).ConfigureAwait(false);
            return allVerified ? 0 : 1;
        }
    }

    private sealed record TransferOutcome(long Commands, TimeSpan Elapsed, long Bytes, LatencyHistogram Latency, long? Mismatch);

    /// <summary>
    /// Writes <paramref name="expected"/>[start..start+length) to the LUN, or reads it back and compares, in
    /// <paramref name="transfer"/>-byte commands with several in flight.
    /// </summary>
    private static async Task<TransferOutcome> TransferAsync(IscsiLun lun, byte[] expected, long start, long length, int transfer, bool write,
        CancellationToken ct)
    {
        long chunks = (length + transfer - 1) / transfer;
        long next = -1;
        long mismatch = long.MaxValue;
        var histograms = new LatencyHistogram[VerifyQueueDepth];
        var clock = Stopwatch.StartNew();
        var workers = Enumerable.Range(0, VerifyQueueDepth).Select(w => Task.Run(async () =>
        {
            var histogram = histograms[w] = new LatencyHistogram();
            var buffer = GC.AllocateUninitializedArray<byte>(transfer, pinned: true);
            long chunk;
            while ((chunk = Interlocked.Increment(ref next)) < chunks)
            {
                long offset = start + chunk * transfer;
                int bytes = (int)Math.Min(transfer, start + length - offset);
                long began = Stopwatch.GetTimestamp();
                if (write) await lun.WriteAsync(offset / lun.BlockSize, expected.AsMemory((int)offset, bytes), ct).ConfigureAwait(false);
                else
                {
                    await lun.ReadAsync(offset / lun.BlockSize, buffer.AsMemory(0, bytes), ct).ConfigureAwait(false);
                    var want = expected.AsSpan((int)offset, bytes);
                    var got = buffer.AsSpan(0, bytes);
                    if (!got.SequenceEqual(want))
                    {
                        long at = offset + got.CommonPrefixLength(want);
                        long seen;
                        while (at < (seen = Interlocked.Read(ref mismatch)) && Interlocked.CompareExchange(ref mismatch, at, seen) != seen) { }
                    }
                }
                histogram.Record((long)Stopwatch.GetElapsedTime(began).TotalNanoseconds);
            }
        }, ct)).ToArray();
        await Task.WhenAll(workers).ConfigureAwait(false);
        var latency = new LatencyHistogram();
        foreach (var h in histograms) latency.Add(h);
        return new TransferOutcome(chunks, clock.Elapsed, length, latency, mismatch == long.MaxValue ? null : mismatch);
    }

    private static string[] Row(string step, int transfer, TransferOutcome t, string check) =>
    [
        step, SizeText.Transfer(transfer), t.Commands.ToString(CultureInfo.InvariantCulture),
        F(SizeText.MegabytesPerSecond(t.Bytes, t.Elapsed.TotalSeconds), "0.0"), F(t.Commands / Math.Max(1e-9, t.Elapsed.TotalSeconds), "0"),
        F(t.Latency.Percentile(50) / 1000.0, "0"), F(t.Latency.Percentile(99) / 1000.0, "0"), check,
    ];

    private static string F(double value, string format) => value.ToString(format, CultureInfo.InvariantCulture);

    /// <summary>A markdown table: readable as text and pasteable into a document.</summary>
    internal static void WriteTable(TextWriter o, string[] header, List<string[]> rows)
    {
        var widths = header.Select((h, i) => rows.Select(r => r[i].Length).Append(h.Length).Max()).ToArray();
        bool Numeric(int column) => rows.All(r => r[column] == "-" || double.TryParse(r[column], NumberStyles.Float, CultureInfo.InvariantCulture, out _));
        string Line(string[] cells) => "| " + string.Join(" | ", cells.Select((c, i) => Numeric(i) ? c.PadLeft(widths[i]) : c.PadRight(widths[i]))) + " |";
        o.WriteLine(Line(header));
        o.WriteLine("|" + string.Join("|", widths.Select((w, i) => Numeric(i) ? new string('-', w + 1) + ":" : new string('-', w + 2))) + "|");
        foreach (var row in rows) o.WriteLine(Line(row));
    }
}
