using System.Diagnostics;
using Iser.Core.Iscsi.Initiator;
using Iser.Tests.Verbs;
using Iser.Transport.Iser.Datamover;
using Iser.Transport.Iser.Fallback;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Iser.Tests.IserTransport;

/// <summary>
/// Many iSER connections to one target of ours (our initiator, both in this process): each one writes and reads back
/// its own data. The target's connections register nothing of their own: receives come from one shared receive queue,
/// send and data buffers from the listener's pools, completions from a few shared CQ threads. Threads and registered
/// memory per connection are written to the output, and asserted (issue 16: at most 256 KiB per target connection).
/// </summary>
[Trait("Category", "Lab")]
[Collection("iSER lab")] // IserConnectionCounters are process-wide
public sealed class IserManyConnectionsLabTests(ITestOutputHelper output)
{
    /// <summary>Registered by one initiator connection at defaults: its receive ring and send buffers (about 1.3 MiB today).</summary>
    private const long ControlBudgetPerConnection = 2L << 20;

    /// <summary>The target's shared control buffers (SRQ and send pool) per connection: the bar of issue 16.</summary>
    private const long TargetControlBudgetPerConnection = 256L << 10;

    /// <summary>Connections the test opens: 64, or ISER_LAB_CONNECTIONS (256 was measured this way, see bench/README.md).</summary>
    private static int Connections =>
        int.TryParse(Environment.GetEnvironmentVariable("ISER_LAB_CONNECTIONS"), out int n) && n > 0 ? n : 64;

    [LabFact]
    public Task ManyConnectionsEachMoveVerifiedDataWithOnlyTheirControlBuffersRegistered() => RunAsync(Connections);

    private async Task RunAsync(int count)
    {
        await using var lab = InProcessIserTarget.Start(bytes: (long)count << 20, LogLevel.Warning);
        var transport = InitiatorTransports.Create(TransportKind.Iser, lab.Log.Factory);
        var sessions = new List<IscsiSession>();
        long sharedPeak = 0;
        try
        {
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < count; i += 8)
            {
                var batch = await Task.WhenAll(Enumerable.Range(0, Math.Min(8, count - i))
                    .Select(_ => IscsiSession.ConnectAsync(lab.SessionOptions(), transport)));
                sessions.AddRange(batch);
            }
            output.WriteLine($"{count} iSER sessions logged in in {sw.ElapsedMilliseconds} ms");
            Assert.All(sessions, s => Assert.Equal("iser", s.TransportName));

            // I/O on every connection at once: 256 KiB written and read back in its own 1 MiB of the LUN.
            sw.Restart();
            await Task.WhenAll(sessions.Select(async (session, i) =>
            {
                var lun = await session.OpenLunAsync(0);
                var data = LabEnvironment.Pattern(256 << 10, 7000 + i);
                long lba = (long)i * (1 << 20) / 512;
                await lun.WriteAsync(lba, data);
                var back = new byte[data.Length];
                await lun.ReadAsync(lba, back);
                Assert.True(data.AsSpan().SequenceEqual(back), $"session {i}: 256 KiB read back at LBA {lba} differ from what it wrote");
            }));
            output.WriteLine($"256 KiB written and read back on each of {count} sessions at once in {sw.ElapsedMilliseconds} ms");

            int connections = (int)IserConnectionCounters.LiveConnections; // both ends of each connection live in this process
            Assert.True(connections == 2 * count, $"{connections} live iSER connection ends, {2 * count} expected");
            // The target's ends register nothing of their own, so the per-connection figure is the initiator's.
            long initiatorPerConnection = IserConnectionCounters.RegisteredBytes / count;
            long targetControl = IserConnectionCounters.SharedControlBufferBytes;
            long targetPerConnection = targetControl / count;
            sharedPeak = IserConnectionCounters.SharedDataBufferBytes;
            int sharedCqThreads = LabProcess.Threads("iser-srq-cq");
            int cqThreads = LabProcess.Threads("iser-cq");
            int cmThreads = LabProcess.Threads("iser-cm");
            output.WriteLine($"target: {targetControl >> 10} KiB of shared control buffers for {count} connections ({targetPerConnection >> 10} KiB each; "
                + $"{IserConnectionCounters.SharedReceivesPosted} receives posted to the SRQ), {sharedPeak >> 10} KiB in the shared data buffer pool "
                + $"({(sharedPeak / count) >> 10} KiB each), {sharedCqThreads} CQ threads");
            output.WriteLine($"initiator: {IserConnectionCounters.RegisteredBytes >> 10} KiB registered by {count} connections ({initiatorPerConnection >> 10} KiB each), "
                + $"{cqThreads} CQ threads");
            output.WriteLine($"threads: {cmThreads} rdma_cm watchers, {Process.GetCurrentProcess().Threads.Count} threads in the process");

            Assert.True(targetPerConnection <= TargetControlBudgetPerConnection,
                $"the target registers {targetPerConnection >> 10} KiB of control buffers per iSER connection, more than {TargetControlBudgetPerConnection >> 10} KiB");
            Assert.True(targetControl > 0 && IserConnectionCounters.SharedReceivesPosted > 0, "the target posted no buffer to a shared receive queue");
            Assert.True(initiatorPerConnection <= ControlBudgetPerConnection,
                $"each iSER initiator connection registers {initiatorPerConnection >> 10} KiB, more than its control buffers' {ControlBudgetPerConnection >> 10} KiB");
            // Large blocks up to DataBufferPoolBytes, small ones up to a quarter of that.
            long dataLimit = new IserOptions().DataBufferPoolBytes * 5 / 4;
            Assert.True(sharedPeak > 0 && sharedPeak <= dataLimit,
                $"the target's shared data buffer pools hold {sharedPeak >> 10} KiB registered, outside (0, {dataLimit >> 10}] KiB");
            // The target's connections share the listener's rdma_cm thread, the initiator's connections one of the process.
            Assert.True(cmThreads <= 2,
                $"{cmThreads} rdma_cm threads for {count} initiator connections and one listener: the connections do not share them");
            // The target's completions: at most one thread per core. Each initiator connection polls its own CQ (with a relay partner).
            Assert.True(sharedCqThreads >= 1 && sharedCqThreads <= new IserOptions().CompletionThreads,
                $"{sharedCqThreads} shared CQ threads on the target, outside [1, {new IserOptions().CompletionThreads}]");
            Assert.True(cqThreads <= 2 * count, $"{cqThreads} initiator CQ threads for {count} connections: more than 2 each");
        }
        finally
        {
            await LabProcess.LogOutAllAsync(sessions);
        }
        await lab.AssertEverythingFreedAsync(TimeSpan.FromSeconds(60));
    }
}
