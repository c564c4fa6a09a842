using Iser.Core.Iscsi.Initiator;
using Iser.Tests.Verbs;
using Iser.Transport.Iser.Datamover;
using Iser.Transport.Iser.Fallback;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Iser.Tests.IserTransport;

/// <summary>
/// The shared iSER resources (issue 16), the target's and the initiator's: connections on one device receive through one SRQ that grows as they
/// join, poll at most <see cref="IserOptions.CompletionThreads"/> CQ threads, and register nothing of their own; with
/// sharing off each connection has its own ring and CQ thread again. Data written is read back equal either way, and
/// everything is freed after the sessions log out.
/// </summary>
[Trait("Category", "Lab")]
[Collection("iSER lab")] // IserConnectionCounters are process-wide
public sealed class IserSharedResourcesLabTests(ITestOutputHelper output)
{
    [LabFact]
    public async Task Connections_share_one_cq_thread_and_an_srq_that_grows_as_they_join()
    {
        var options = new IserOptions { QueueDepth = 128, CompletionThreads = 1 };
        await using var lab = InProcessIserTarget.Start(bytes: 16L << 20, LogLevel.Information, iserOptions: options);
        var sessions = new List<IscsiSession>();
        try
        {
            var transport = InitiatorTransports.Create(TransportKind.Iser, lab.Log.Factory);
            long postedBefore = IserConnectionCounters.SharedReceivesPosted;
            for (int i = 0; i < 4; i++) sessions.Add(await IscsiSession.ConnectAsync(lab.SessionOptions(), transport));
            await ReadBackOnEachAsync(sessions);

            long posted = IserConnectionCounters.SharedReceivesPosted - postedBefore;
            output.WriteLine($"4 connections: {posted} receives posted to the shared receive queue, {LabProcess.Threads("iser-srq-cq")} shared CQ thread(s), "
                + $"{IserConnectionCounters.SharedControlBufferBytes >> 10} KiB of shared control buffers");
            // 32 to start with and 8 for each connection; more only if load raised it.
            Assert.True(posted >= SharedReceives.BasePosted + 4 * SharedReceives.PerConnection,
                $"{posted} receives posted for 4 connections, fewer than {SharedReceives.BasePosted} + 4 x {SharedReceives.PerConnection}");
            Assert.Equal(1, LabProcess.Threads("iser-srq-cq"));
            Assert.True(IserConnectionCounters.SharedControlBufferBytes > 0, "no shared control buffer is registered");
            Assert.Contains(lab.Log.Lines, l => l.Contains("no registered memory of its own"));
            // The initiator's four connections (default options) likewise: one SRQ, CQ threads shared, nothing registered per connection.
            Assert.Equal(0, LabProcess.Threads("iser-cq "));
            int initiatorThreads = LabProcess.Threads("iser-init-cq");
            Assert.True(initiatorThreads is >= 1 and <= 4, $"{initiatorThreads} initiator CQ threads for 4 connections, outside [1, 4] (2 workers and their partners)");
            Assert.True(IserConnectionCounters.InitiatorControlBufferBytes > 0, "the initiators registered no shared control buffer");
            Assert.Equal(0, IserConnectionCounters.RegisteredBytes);
            Assert.Contains(lab.Log.Lines, l => l.Contains("receives from the initiators' shared receive queue"));
        }
        finally
        {
            await LabProcess.LogOutAllAsync(sessions);
        }
        await lab.AssertEverythingFreedAsync(TimeSpan.FromSeconds(30));
    }

    [LabFact]
    public async Task With_sharing_off_each_connection_has_its_own_ring_and_cq_thread()
    {
        var options = new IserOptions { QueueDepth = 128, ShareConnectionResources = false };
        await using var lab = InProcessIserTarget.Start(bytes: 16L << 20, LogLevel.Information, iserOptions: options);
        var sessions = new List<IscsiSession>();
        try
        {
            var transport = InitiatorTransports.Create(TransportKind.Iser, lab.Log.Factory, options);
            long postedBefore = IserConnectionCounters.SharedReceivesPosted;
            for (int i = 0; i < 2; i++) sessions.Add(await IscsiSession.ConnectAsync(lab.SessionOptions(), transport));
            await ReadBackOnEachAsync(sessions);

            Assert.Equal(postedBefore, IserConnectionCounters.SharedReceivesPosted);
            Assert.Equal(0, LabProcess.Threads("iser-srq-cq"));
            Assert.Equal(0, LabProcess.Threads("iser-init-cq"));
            Assert.True(LabProcess.Threads("iser-cq ") >= 4, "fewer than 4 per-connection CQ threads for 2 connections' two ends");
            Assert.Equal(0, IserConnectionCounters.InitiatorControlBufferBytes);
            Assert.Contains(lab.Log.Lines, l => l.Contains("KiB registered now by the connection itself"));
            Assert.DoesNotContain(lab.Log.Lines, l => l.Contains("no registered memory of its own"));
        }
        finally
        {
            await LabProcess.LogOutAllAsync(sessions);
        }
        await lab.AssertEverythingFreedAsync(TimeSpan.FromSeconds(30));
    }

    /// <summary>Each session writes 64 KiB in its own place, 16 in flight across sessions, and reads them back.</summary>
    private static async Task ReadBackOnEachAsync(List<IscsiSession> sessions)
    {
        await Task.WhenAll(sessions.Select(async (session, i) =>
        {
            var lun = await session.OpenLunAsync(0);
            var data = LabEnvironment.Pattern(64 << 10, 9100 + i);
            long lba = (long)i * (1 << 20) / 512;
            await lun.WriteAsync(lba, data);
            var back = new byte[data.Length];
            await lun.ReadAsync(lba, back);
            Assert.True(data.AsSpan().SequenceEqual(back), $"session {i}: 64 KiB read back differ from what it wrote");
        }));
    }
}
