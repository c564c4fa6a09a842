using System.Globalization;
using Iser.Cli.Client;
using Iser.Core.Iscsi.Initiator;

namespace Iser.Cli.Perf;

/// <summary>
/// `iser perf --compare tcp,iser`: the same workload against the same LUN over each transport in turn, a session of its
/// own each, then one side-by-side table. A transport that cannot run (no RDMA device, the portal refuses iSER) gets
/// a row saying why instead of figures.
/// </summary>
internal static class PerfComparison
{
    public static async Task<int> RunAsync(ClientOptions client, IscsiUrl url, IReadOnlyList<TransportChoice> transports, PerfWorkload workload,
        PerfWorkload? ramp, bool quiet, string? plotPath, CommandConsole console, CancellationToken ct)
    {
        var rows = new List<(string Transport, PerfResult? Result, string? Failure)>();
        var plotted = new List<PerfPlot.Series>();
        foreach (var choice in transports)
        {
            string name = choice == TransportChoice.Iser ? "iser" : "tcp";
            try
            {
                var transport = client.CreateTransport(choice, console.Error);
                var session = await IscsiSession.ConnectAsync(client.SessionOptions(url), transport, ct).ConfigureAwait(false);
                await using (session.ConfigureAwait(false))
                {
                    var lun = await ClientConnection.OpenLunAsync(session, url, ct).ConfigureAwait(false);
                    if (ramp is not null) await new PerfRunner(session, url.Lun, lun.BlockCount, lun.BlockSize, ramp).RunAsync(null, ct).ConfigureAwait(false);
                    if (!quiet) console.Error.WriteLine($"{name}: {PerfReport.Title(workload)} for {workload.Duration.TotalSeconds:0.###} s ...");
                    var timeline = new PerfTimeline();
                    var result = await new PerfRunner(session, url.Lun, lun.BlockCount, lun.BlockSize, workload)
                        .RunAsync(PerfTimeline.Both(quiet ? null : Commands.PerfCommand.Progress(console), timeline), ct).ConfigureAwait(false);
                    if (!quiet && console.ErrorIsTerminal) console.Error.WriteLine();
                    rows.Add((name, result, null));
                    plotted.Add(new PerfPlot.Series(name, result, timeline));
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                rows.Add((name, null, e.Message));
            }
            if (ct.IsCancellationRequested) break;
        }
        Write(console.Out, workload, rows);
        if (plotPath is not null) PerfPlot.Save(plotPath, workload, plotted, console.Error);
        if (ct.IsCancellationRequested) return CommandRouter.CancelledExitCode;
        return rows.Any(r => r.Result is not null) ? 0 : 1;
    }

    /// <summary>The table: figures per transport, and each one's IOPS as a ratio to the first transport that ran.</summary>
    internal static void Write(TextWriter o, PerfWorkload workload, IReadOnlyList<(string Transport, PerfResult? Result, string? Failure)> rows)
    {
        o.WriteLine($"{PerfReport.Title(workload)}, {workload.Duration.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture)} s per transport");
        o.WriteLine("transport        IOPS      MB/s    p50 µs    p99 µs  p99.9 µs  CPU µs/cmd  IOPS ratio");
        double? baseline = rows.FirstOrDefault(r => r.Result is not null).Result?.Iops;
        foreach (var (transport, result, failure) in rows)
        {
            if (result is null)
            {
                o.WriteLine($"{transport,-9} did not run: {failure}");
                continue;
            }
            var h = result.Latency;
            string ratio = baseline is > 0 ? (result.Iops / baseline.Value).ToString("0.00", CultureInfo.InvariantCulture) : "-";
            o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{transport,-9} {result.Iops,11:0} {result.MegabytesPerSecond,9:0.0} {h.Percentile(50) / 1000.0,9:0.0} {h.Percentile(99) / 1000.0,9:0.0} {h.Percentile(99.9) / 1000.0,9:0.0} {result.CpuMicrosecondsPerCommand,11:0.0} {ratio,11}"));
        }
    }
}
