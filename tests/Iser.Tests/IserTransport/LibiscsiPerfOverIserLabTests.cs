using Iser.Tests.Peers;
using Iser.Tests.Verbs;
using Iser.Transport.Iser.Datamover;
using Xunit.Abstractions;

namespace Iser.Tests.IserTransport;

/// <summary>
/// libiscsi's iscsi-perf (Debian's libiscsi-bin, built with iSER) against our target over iser://: a few seconds of
/// 4 KiB random READ(16)s, 32 in flight, all answered GOOD (iscsi-perf counts anything else as an error and then
/// exits 1), and afterwards the target holds no session and this process no iSER resource.
/// </summary>
[Trait("Category", "Lab")]
[Collection("iSER lab")] // IserConnectionCounters are process-wide
public sealed class LibiscsiPerfOverIserLabTests(ITestOutputHelper output)
{
    private const int Seconds = 5;

    /// <summary>
    /// libiscsi 1.19's iSER service (Debian 12) fails the whole connection when one poll() of its sync loop waits
    /// 1 s without a completion ("iscsi_service failed with : revents is not POLLIN"; upstream treats that as an
    /// idle tick since 1.20). A target that JIT-compiles its login path on first use in a TCG guest can take longer
    /// than that, so the target is warmed up first and that one libiscsi failure is retried, visibly.
    /// </summary>
    private const string Libiscsi119PollTimeout = "revents is not POLLIN";

    [LabFact(Needs = ["iscsi-perf"])]
    public async Task IscsiPerfReadsRandom4KiBBlocksFromOurTargetOverIser()
    {
        await using var target = InProcessIserTarget.Start();
        await target.WarmUpAsync();

        PerfReport report = null!;
        long posts = 0, sendCompletions = 0, receives = 0;
        for (int attempt = 1; attempt <= 3; attempt++)
        {
            long postsBefore = IserConnectionCounters.SendQueuePosts;
            long sendCompletionsBefore = IserConnectionCounters.SendQueueCompletions;
            long receivesBefore = IserConnectionCounters.ReceiveCompletions;
            report = await new LibiscsiTools().PerfAsync(target.LunUrl, blocksPerRequest: 8, maxInFlight: 32, random: true, seconds: Seconds);
            // The progress lines end in carriage returns; show one line per report.
            output.WriteLine($"attempt {attempt}: {report.Process.CommandLine} -> exit {report.Process.ExitCode} in {report.Process.Duration.TotalSeconds:0.0} s");
            output.WriteLine(report.Process.Transcript.Replace('\r', '\n'));
            posts = IserConnectionCounters.SendQueuePosts - postsBefore;
            sendCompletions = IserConnectionCounters.SendQueueCompletions - sendCompletionsBefore;
            receives = IserConnectionCounters.ReceiveCompletions - receivesBefore;
            if (!report.Process.Stderr.Contains(Libiscsi119PollTimeout)) break;
            await target.AssertEverythingFreedAsync(TimeSpan.FromSeconds(30));
        }
        output.WriteLine(target.Warnings);

        Assert.True(report.Process.ExitCode == 0, $"iscsi-perf exited with {report.Process.ExitCode} (1: some READ(16) did not end GOOD; 10: login or service failure).");
        Assert.DoesNotContain("failed", report.Process.Stderr, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("finished.", report.Process.Stdout);
        Assert.Equal(4096, report.TransferBytes);
        Assert.Equal((64L << 20) / 512, report.BlockCount); // READ CAPACITY(16) over iSER saw the whole LUN
        Assert.True(report.AverageIops is > 0, "iscsi-perf printed no final 'iops average' above zero.");
        output.WriteLine($"iSER, our target, iscsi-perf 4 KiB random read, 32 in flight, {Seconds} s: {report.AverageIops} IOPS ({report.MegabytesPerSecond:0.0} MB/s)");

        // Every READ's RDMA WRITE rides in one ibv_post_send with its SCSI Response, and the responses of one
        // completion batch share a post whose last SEND alone is signaled: never more than one post, or one send-queue
        // completion, per message received (commands, plus the login's requests, each answered by one SEND).
        output.WriteLine($"target side: {receives} messages received, {posts} ibv_post_send calls, {sendCompletions} send-queue completions " +
            $"({(double)receives / Math.Max(posts, 1):0.00} commands per post)");
        Assert.True(receives > 1000, $"only {receives} iSER messages reached the target in {Seconds} s");
        Assert.True(posts <= receives, $"{posts} ibv_post_send calls for {receives} received messages: a READ's WRITE and its response went out in separate posts");
        Assert.True(sendCompletions <= posts, $"{sendCompletions} send-queue completions for {posts} posts: more than the last request of a post is signaled");

        await target.AssertEverythingFreedAsync(TimeSpan.FromSeconds(30));
    }
}
