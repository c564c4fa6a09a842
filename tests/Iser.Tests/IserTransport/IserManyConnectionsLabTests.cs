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
/// its own data. Neither end's connections register anything of their own: receives come from one shared receive queue
/// per side, send (and the target's data) buffers from shared pools, completions from a few shared CQ threads. Threads and registered
/// memory per connection are written to the output, and asserted (issue 16: at most 256 KiB per connection).
/// </summary>
[Trait("Category", "Lab")]
[Collection("iSER lab")] // IserConnectionCounters are process-wide
public sealed class IserManyConnectionsLabTests(ITestOutputHelper output)
{
    /// <summary>Shared control buffers (SRQ and send pool) per connection, on each side: the bar of issue 16.</summary>
    private const long ControlBudgetPerConnection = 256L << 10;

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
            // Neither end registers anything of its own: the per-connection figures are the shared pools' over the connections.
            long ownBytes = IserConnectionCounters.RegisteredBytes;
            long initiatorControl = IserConnectionCounters.InitiatorControlBufferBytes;
            long initiatorPerConnection = initiatorControl / count;
            long targetControl = IserConnectionCounters.SharedControlBufferBytes;
            long targetPerConnection = targetControl / count;
            sharedPeak = IserConnectionCounters.SharedDataBufferBytes;
            int sharedCqThreads = LabProcess.Threads("iser-srq-cq");
            int cqThreads = LabProcess.Threads("iser-cq ");
            int initiatorCqThreads = LabProcess.Threads("iser-init-cq");
            int cmThreads = LabProcess.Threads("iser-cm");
            output.WriteLine($"target: {targetControl >> 10} KiB of shared control buffers for {count} connections ({targetPerConnection >> 10} KiB each; "
                + $"{IserConnectionCounters.SharedReceivesPosted} receives posted to the SRQ), {sharedPeak >> 10} KiB in the shared data buffer pool "
                + $"({(sharedPeak / count) >> 10} KiB each), {sharedCqThreads} CQ threads");
            output.WriteLine($"initiator: {initiatorControl >> 10} KiB of shared control buffers for {count} connections ({initiatorPerConnection >> 10} KiB each), "
                + $"{initiatorCqThreads} shared CQ threads (partners included), {cqThreads} per-connection CQ threads; {ownBytes} B registered by connections themselves");
            output.WriteLine($"threads: {cmThreads} rdma_cm watchers, {Process.GetCurrentProcess().Threads.Count} threads in the process");

            Assert.True(targetPerConnection <= ControlBudgetPerConnection,
                $"the target registers {targetPerConnection >> 10} KiB of control buffers per iSER connection, more than {ControlBudgetPerConnection >> 10} KiB");
            Assert.True(targetControl > 0 && IserConnectionCounters.SharedReceivesPosted > 0, "the target posted no buffer to a shared receive queue");
            Assert.True(initiatorControl > 0 && initiatorPerConnection <= ControlBudgetPerConnection,
                $"the initiator registers {initiatorPerConnection >> 10} KiB of control buffers per iSER connection, outside (0, {ControlBudgetPerConnection >> 10}] KiB");
            Assert.True(ownBytes == 0, $"{ownBytes} B registered by the connections themselves, none expected when they share");
            // Large blocks up to DataBufferPoolBytes, small ones up to a quarter of that.
            long dataLimit = new IserOptions().DataBufferPoolBytes * 5 / 4;
            Assert.True(sharedPeak > 0 && sharedPeak <= dataLimit,
                $"the target's shared data buffer pools hold {sharedPeak >> 10} KiB registered, outside (0, {dataLimit >> 10}] KiB");
            // The target's connections share the listener's rdma_cm thread, the initiator's connections one of the process.
            Assert.True(cmThreads <= 2,
                $"{cmThreads} rdma_cm threads for {count} initiator connections and one listener: the connections do not share them");
            // Completions: at most one thread per core on the target; on the initiator as many, each with its relay partner.
            Assert.True(sharedCqThreads >= 1 && sharedCqThreads <= new IserOptions().CompletionThreads,
                $"{sharedCqThreads} shared CQ threads on the target, outside [1, {new IserOptions().CompletionThreads}]");
            int limit = new IserOptions().CompletionThreads;
            Assert.True(cqThreads == 0, $"{cqThreads} per-connection CQ threads: the connections do not share");
            Assert.True(initiatorCqThreads >= 1 && initiatorCqThreads <= 2 * limit,
                $"{initiatorCqThreads} initiator CQ threads for {count} connections, outside [1, {2 * limit}]");
        }
        finally
        {
            await LabProcess.LogOutAllAsync(sessions);
        }
        await lab.AssertEverythingFreedAsync(TimeSpan.FromSeconds(60));
    }
}
