using Iser.Transport.Iser.Datamover;
using Iser.Transport.Iser.Memory;

namespace Iser.Tests.IserTransport;

/// <summary>The reference count, work-request table and operation group that make iSER teardown safe.</summary>
public sealed class IserBookkeepingTests
{
    [Fact]
    public void ResourcesAreReleasedOnlyAfterCloseAndTheLastCompletion()
    {
        int released = 0;
        var refs = new ConnectionReferences(() => released++);
        refs.AddPosted(3);
        Assert.Equal(4, refs.Count);
        refs.CompletionArrived();
        refs.Close();
        Assert.Equal(0, released); // two work requests still posted
        refs.CompletionArrived();
        Assert.Equal(0, released);
        refs.CompletionArrived(); // a flush completion counts like any other
        Assert.Equal(1, released);
        Assert.Equal(0, refs.Count);
    }

    [Fact]
    public void CloseIsIdempotentAndReleasesAtOnceWhenNothingIsPosted()
    {
        int released = 0;
        var refs = new ConnectionReferences(() => released++);
        refs.Close();
        refs.Close();
        Assert.Equal(1, released);
        Assert.Throws<InvalidOperationException>(() => refs.AddPosted(1));
    }

    [Fact]
    public void APartialPostAccountsOnlyTheWorkRequestsThatWentIn()
    {
        // A chain of 5 where the provider refused the 3rd: PostResult.Posted == 2 references, 2 completions.
        int released = 0;
        var refs = new ConnectionReferences(() => released++);
        var result = new global::Iser.Transport.Iser.Verbs.PostResult(Posted: 2, Requested: 5, Errno: 12);
        refs.AddPosted(result.Posted);
        refs.Close();
        refs.CompletionArrived();
        Assert.Equal(0, released);
        refs.CompletionArrived();
        Assert.Equal(1, released);
        Assert.Throws<InvalidOperationException>(() => refs.CompletionArrived());
    }

    [Fact]
    public void WorkRequestSlotsAreReusedAndAStrayCompletionIsAnError()
    {
        var table = new WorkRequestTable(2);
        Assert.True(table.TryAllocate(WorkRequestKind.Send, default, null!, null, out ulong a));
        Assert.True(table.TryAllocate(WorkRequestKind.Receive, default, null!, null, out ulong b));
        Assert.NotEqual(a, b);
        Assert.False(table.TryAllocate(WorkRequestKind.Send, default, null!, null, out _));
        Assert.Equal(WorkRequestKind.Receive, table.Take(b).Kind);
        Assert.Equal(1, table.InUse);
        Assert.Throws<InvalidOperationException>(() => table.Take(b));
        Assert.Throws<InvalidOperationException>(() => table.Take(99));
        Assert.True(table.TryAllocate(WorkRequestKind.RdmaRead, default, null!, null, out ulong c));
        Assert.Equal(b, c);
    }

    [Fact]
    public async Task OperationGroupCompletesAfterTheLastOperationWithTheFirstError()
    {
        var group = new OperationGroup();
        group.Start(3);
        var wait = group.WaitAsync();
        group.Complete(null);
        group.Complete(new IOException("flushed"));
        Assert.False(wait.IsCompleted);
        group.Complete(new IOException("second"));
        var e = await Assert.ThrowsAsync<IOException>(async () => await wait);
        Assert.Equal("flushed", e.Message);

        // Reused for the next batch; unposted operations count as done.
        group.Start(4);
        wait = group.WaitAsync();
        group.Complete(null);
        group.Abandon(3, new IOException("post failed"));
        e = await Assert.ThrowsAsync<IOException>(async () => await wait);
        Assert.Equal("post failed", e.Message);

        group.Start(1);
        wait = group.WaitAsync();
        group.Complete(null);
        await wait;
    }

    [Fact]
    public void BuffersAreSizedFromTheNegotiatedValuesNotAWorstCase()
    {
        var options = new IserOptions { ControlDataSegmentLength = 8192, QueueDepth = 32 };
        Assert.Equal(IserOptions.HeaderRoom + 8192, options.ControlBufferSize);
        Assert.Equal(32 + 4 + 8, options.ReceiveRing(maxOutstandingUnexpected: 4));
        Assert.Equal(40, options.SendBuffers);
        var rdma = options.ConnectionOptions(target: true);
        Assert.Equal(40 + options.DataBuffers + 8, rdma.Capacities.MaxSendWorkRequests);
        Assert.Equal(64, options.DataBuffers); // 64 x 128 KiB bounce buffers: 8 MiB registered per target connection
    }
}
