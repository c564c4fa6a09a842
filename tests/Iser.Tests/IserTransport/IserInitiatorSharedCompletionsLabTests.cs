using System.Diagnostics;
using Iser.Core.Iscsi.Initiator;
using Iser.Tests.Verbs;
using Iser.Transport.Iser.Datamover;
using Iser.Transport.Iser.Fallback;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Iser.Tests.IserTransport;

/// <summary>
/// The initiator's sessions share their CQ threads (issue 16) without losing what issue 13's default completion mode
/// promises: a caller's continuation may block without holding back the reads, now of every session on that thread.
/// </summary>
[Trait("Category", "Lab")]
[Collection("iSER lab")] // IserConnectionCounters are process-wide
public sealed class IserInitiatorSharedCompletionsLabTests(ITestOutputHelper output)
{
    [LabFact]
    public async Task A_continuation_blocked_on_one_session_holds_back_no_completion_of_another_session_on_the_same_cq_thread()
    {
        await using var lab = InProcessIserTarget.Start(bytes: 16L << 20, LogLevel.Information);
        var transport = InitiatorTransports.Create(TransportKind.Iser, lab.Log.Factory, new IserOptions { CompletionThreads = 1 });
        var sessions = new List<IscsiSession>();
        try
        {
            for (int i = 0; i < 3; i++) sessions.Add(await IscsiSession.ConnectAsync(lab.SessionOptions(), transport));
            Assert.Equal(0, LabProcess.Threads("iser-cq "));
            Assert.Equal(1, InitiatorDeviceResources.CompletionThreads);
            var blocking = await sessions[0].OpenLunAsync(0);
            var others = new[] { await sessions[1].OpenLunAsync(0), await sessions[2].OpenLunAsync(0) };
            var data = LabEnvironment.Pattern(64 << 10, 4242);
            await others[0].WriteAsync(2048, data);

            // Session 0's continuation blocks until the other two sessions have done 200 reads each, all completed by
            // the same (single) CQ worker; were their completions held behind it, this would time out. The case that
            // matters is the continuation on the worker's own thread (the partner polls meanwhile): the read is tried
            // again until it completes there (when another continuation still runs on that worker's freed thread, the
            // default mode sends it to the pool instead).
            using var othersDone = new ManualResetEventSlim();
            Task<bool>? blocked = null;
            string? blockedOn = null;
            for (int attempt = 0; attempt < 20 && blocked is null; attempt++)
            {
                await Task.Delay(50); // off the CQ thread this method's continuation may be on, and the worker idle again
                using var blockedNow = new ManualResetEventSlim();
                bool onWorker = false;
                var attemptTask = Task.Run(async () =>
                {
                    await blocking.ReadAsync(0, new byte[4096]);
                    blockedOn = Thread.CurrentThread.Name ?? "(unnamed)";
                    onWorker = blockedOn.StartsWith("iser-init-cq", StringComparison.Ordinal);
                    blockedNow.Set();
                    return !onWorker || othersDone.Wait(TimeSpan.FromSeconds(20));
                });
                Assert.True(blockedNow.Wait(TimeSpan.FromSeconds(20)), "session 0's read did not complete");
                output.WriteLine($"attempt {attempt}: session 0's continuation runs on thread '{blockedOn}'");
                if (onWorker) blocked = attemptTask;
                else await attemptTask;
            }
            Assert.True(blocked is not null, "in 20 reads session 0's continuation never ran on the CQ worker's thread");
            var sw = Stopwatch.StartNew();
            await Task.WhenAll(others.Select(async lun =>
            {
                var back = new byte[data.Length];
                for (int n = 0; n < 200; n++)
                {
                    await lun.ReadAsync(2048, back);
                    Assert.True(data.AsSpan().SequenceEqual(back), $"read {n} returned other bytes than were written");
                }
            }));
            othersDone.Set();
            output.WriteLine($"400 reads on two sessions in {sw.ElapsedMilliseconds} ms while session 0's continuation blocked");
            Assert.True(await blocked, "session 0's continuation waited 20 s for the other sessions' reads: their completions were held behind it");

            // Session 0 carries on afterwards.
            var after = new byte[data.Length];
            await blocking.ReadAsync(2048, after);
            Assert.True(data.AsSpan().SequenceEqual(after), "session 0 read other bytes than were written after its continuation blocked");
            Assert.Equal(1, InitiatorDeviceResources.CompletionThreads);
        }
        finally
        {
            await LabProcess.LogOutAllAsync(sessions);
        }
        await lab.AssertEverythingFreedAsync(TimeSpan.FromSeconds(30));
    }

    [LabFact]
    public async Task Sessions_that_come_and_go_rebuild_the_shared_queues_after_the_last_one_left()
    {
        await using var lab = InProcessIserTarget.Start(bytes: 16L << 20, LogLevel.Information);
        var transport = InitiatorTransports.Create(TransportKind.Iser, lab.Log.Factory);
        for (int round = 0; round < 2; round++)
        {
            var sessions = new List<IscsiSession>();
            try
            {
                for (int i = 0; i < 2; i++) sessions.Add(await IscsiSession.ConnectAsync(lab.SessionOptions(), transport));
                Assert.True(IserConnectionCounters.InitiatorControlBufferBytes > 0, $"round {round}: no shared initiator buffers registered");
                var data = LabEnvironment.Pattern(16 << 10, 500 + round);
                var lun = await sessions[round].OpenLunAsync(0);
                await lun.WriteAsync(4096, data);
                var back = new byte[data.Length];
                await (await sessions[1 - round].OpenLunAsync(0)).ReadAsync(4096, back);
                Assert.True(data.AsSpan().SequenceEqual(back), $"round {round}: one session read other bytes than the other wrote");
            }
            finally
            {
                await LabProcess.LogOutAllAsync(sessions);
            }
            // The last connection out frees the initiators' SRQ, pools and CQ threads; the next round builds them anew.
            await lab.AssertEverythingFreedAsync(TimeSpan.FromSeconds(30));
        }
    }
}
