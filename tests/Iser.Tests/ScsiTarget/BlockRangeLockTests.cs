using Iser.Core.Scsi.Target;

namespace Iser.Tests.ScsiTarget;

public class BlockRangeLockTests
{
    [Fact]
    public async Task Shared_leases_overlap_freely()
    {
        var locks = new BlockRangeLock();
        var a = await locks.AcquireAsync(0, 10, exclusive: false, default);
        var b = await locks.AcquireAsync(5, 10, exclusive: false, default);
        Assert.Equal(2, locks.HeldCount);
        a.Dispose();
        b.Dispose();
        Assert.Equal(0, locks.HeldCount);
    }

    [Fact]
    public async Task Exclusive_waits_for_overlapping_shared_and_holds_back_later_overlapping_writers()
    {
        var locks = new BlockRangeLock();
        var write = await locks.AcquireAsync(0, 8, exclusive: false, default);
        var compare = locks.AcquireAsync(4, 1, exclusive: true, default).AsTask();
        Assert.False(compare.IsCompleted);

        var unrelated = await locks.AcquireAsync(100, 8, exclusive: false, default); // disjoint: no wait
        var laterWrite = locks.AcquireAsync(4, 4, exclusive: false, default).AsTask();
        Assert.False(laterWrite.IsCompleted);                                          // queued behind the C&W

        write.Dispose();
        var compareLease = await compare.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.False(laterWrite.IsCompleted);
        compareLease.Dispose();
        (await laterWrite.WaitAsync(TimeSpan.FromSeconds(5))).Dispose();
        unrelated.Dispose();
        Assert.Equal(0, locks.HeldCount);
    }

    [Fact]
    public async Task A_cancelled_waiter_leaves_the_queue()
    {
        var locks = new BlockRangeLock();
        var held = await locks.AcquireAsync(0, 1, exclusive: true, default);
        using var cts = new CancellationTokenSource();
        var waiting = locks.AcquireAsync(0, 1, exclusive: true, cts.Token).AsTask();
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        held.Dispose();
        (await locks.AcquireAsync(0, 1, exclusive: true, default)).Dispose();
        Assert.Equal(0, locks.HeldCount);
    }
}
