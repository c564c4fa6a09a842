using Iser.Core.Iscsi.Initiator;
using Iser.Transport.Tcp;

namespace Iser.Tests.Initiator;

/// <summary>
/// Where a command's continuation runs (CompletionOptions), over TCP against our target: on the thread pool by
/// default, inside the transport's delivery with Inline, and what happens when an inline continuation blocks. Run once
/// per TCP receive path: a thread of the connection's own (the default on Linux), and the runtime's async sockets.
/// </summary>
public abstract class CompletionThreadTests(bool receiveThread)
{
    private readonly DeliveryMarkingTransport Transport = new(new TcpInitiatorTransport(options: new TcpInitiatorOptions { ReceiveThread = receiveThread }));

    [Theory]
    [InlineData(CompletionMode.ThreadPool, false)]
    [InlineData(CompletionMode.BusyPoll, false)]
    [InlineData(CompletionMode.Inline, true)]
    public async Task The_continuation_runs_inside_the_transports_delivery_only_when_inline(CompletionMode mode, bool inside)
    {
        await using var target = InProcessTarget.Start(blocks: 4096, blockDevice: true);
        await using var session = await IscsiSession.ConnectAsync(target.SessionOptions().In(mode), Transport);
        var lun = await session.OpenLunAsync(0);
        var data = new byte[4096];
        Random.Shared.NextBytes(data);
        await lun.WriteAsync(0, data);
        for (int i = 0; i < 20; i++)
        {
            var back = new byte[4096];
            Assert.Equal(inside, await ReadAndSeeWhereItResumesAsync(lun, 0, back));
            Assert.True(data.AsSpan().SequenceEqual(back));
        }
        Assert.Equal(mode == CompletionMode.Inline, session.InlineCompletions);
    }

    [Fact]
    public async Task A_continuation_that_blocks_the_completion_thread_is_released_by_recovery_and_completions_move_to_the_thread_pool()
    {
        var log = new CapturedLog();
        await using var target = InProcessTarget.Start(blocks: 4096, blockDevice: true);
        var options = target.SessionOptions().In(CompletionMode.Inline);
        options.Completions.InlineStallTimeout = TimeSpan.FromSeconds(1);
        options.LoggerFactory = log.Factory;
        await using var session = await IscsiSession.ConnectAsync(options, Transport);
        var lun = await session.OpenLunAsync(0);
        var data = new byte[8192];
        Random.Shared.NextBytes(data);
        await lun.WriteAsync(0, data);

        var second = new byte[4096];
        var (inside, finished, blocked) = await BlockTheCompletionThreadAsync(lun, second);
        Assert.True(inside, "the continuation ran on the completion thread");

        Assert.True(finished, $"the blocked read was not released within 30 s\n{log}");
        Assert.True(blocked >= TimeSpan.FromSeconds(0.9), $"released after {blocked}: before the stall timeout?");
        Assert.True(data.AsSpan(4096).SequenceEqual(second), "the re-issued read returned the data written");
        Assert.False(session.InlineCompletions);
        Assert.Equal(1, session.ReconnectCount);
        Assert.Contains(log.Lines, l => l.Contains(" Error ") && l.Contains("has held it for") && l.Contains("forbids blocking"));

        // Later commands complete on the thread pool, outside the transport's delivery. This test body still runs on the
        // released completion thread (inside the old connection's delivery): the read starts from a pool thread, so a
        // response fast enough to complete it before the await cannot make it look as if it had resumed inline.
        var third = new byte[4096];
        Assert.False(await Task.Run(() => ReadAndSeeWhereItResumesAsync(lun, 0, third)));
        Assert.True(data.AsSpan(0, 4096).SequenceEqual(third));
        Assert.Equal(IscsiSessionState.LoggedIn, session.State);
    }

    [Fact]
    public async Task A_thread_pool_continuation_may_block_on_another_command_without_stalling_the_session()
    {
        await using var target = InProcessTarget.Start(blocks: 4096, blockDevice: true);
        await using var session = await IscsiSession.ConnectAsync(target.SessionOptions().In(CompletionMode.ThreadPool), Transport);
        var lun = await session.OpenLunAsync(0);
        var data = new byte[8192];
        Random.Shared.NextBytes(data);
        await lun.WriteAsync(0, data);

        // Each completion is its own thread-pool work item: this continuation blocks a pool thread until a second read
        // completes, whose continuation runs on another; the wait ends without dropping the connection.
        var second = new byte[4096];
        var (inside, finished, blocked) = await BlockTheCompletionThreadAsync(lun, second);
        Assert.False(inside);
        Assert.True(finished, "the blocked read was not released within 30 s");
        Assert.True(blocked < TimeSpan.FromSeconds(10), $"released after {blocked}");
        Assert.True(data.AsSpan(4096).SequenceEqual(second));
        Assert.Equal(0, session.ReconnectCount);
        Assert.Equal(IscsiSessionState.LoggedIn, session.State);
    }

    /// <summary>Reads and reports whether the code after the await ran inside the transport's delivery of a PDU.</summary>
    private static async Task<bool> ReadAndSeeWhereItResumesAsync(IscsiLun lun, long lba, byte[] buffer)
    {
        await ReadThatCompletesLaterAsync(lun, lba, buffer).ConfigureAwait(false); // resume wherever the completion ran
        return DeliveryMarkingTransport.InDelivery;
    }

    /// <summary>
    /// A read whose completion comes after the await: one answered before the caller reached its await (a loaded
    /// machine can pause the caller that long) resumes on the caller's own thread and shows nothing, so it is done again.
    /// </summary>
    private static ValueTask ReadThatCompletesLaterAsync(IscsiLun lun, long lba, Memory<byte> buffer)
    {
        for (int attempt = 0; ; attempt++)
        {
            var pending = lun.ReadAsync(lba, buffer);
            if (!pending.IsCompleted || attempt == 20) return pending;
            pending.GetAwaiter().GetResult();
        }
    }

    /// <summary>
    /// After a read resumes where its completion was published, wait there, blocking, for a second read. On the
    /// completion thread (Inline) that is what CompletionOptions.Inline forbids: only that thread could deliver it.
    /// </summary>
    private static async Task<(bool Inside, bool Finished, TimeSpan Blocked)> BlockTheCompletionThreadAsync(IscsiLun lun, byte[] second)
    {
        await ReadThatCompletesLaterAsync(lun, 0, new byte[4096]).ConfigureAwait(false);
        bool inside = DeliveryMarkingTransport.InDelivery;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        bool finished = lun.ReadAsync(8, second).AsTask().Wait(TimeSpan.FromSeconds(30));
        return (inside, finished, clock.Elapsed);
    }
}

public sealed class CompletionThreadTestsOverReceiveThread() : CompletionThreadTests(receiveThread: true);

public sealed class CompletionThreadTestsOverRuntimeSockets() : CompletionThreadTests(receiveThread: false);
