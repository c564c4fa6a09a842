using Iser.Core.Datamover;
using Iser.Transport.Iser.Datamover;
using Microsoft.Extensions.Logging.Abstractions;

namespace Iser.Tests.IserTransport;

/// <summary>
/// An iSER connection's lifetime without RDMA: when it disconnects, when its resources are freed, and what the
/// process-wide outstanding work request count says afterwards.
/// </summary>
[Collection("iSER counters")] // IserConnectionCounters are process-wide
public sealed class ConnectionLifetimeTests
{
    private readonly FakeSteps _steps = new();

    [Fact]
    public async Task Resources_go_with_the_last_completion_after_close_and_nothing_is_written_off()
    {
        var lifetime = Attached(TimeSpan.FromSeconds(30));
        long before = IserConnectionCounters.OutstandingWorkRequests;
        lifetime.References.AddPosted(1);
        IserConnectionCounters.Posted(1);

        lifetime.Terminate("logout");
        Assert.Equal([true], _steps.Disconnects); // a close of our own posts what is staged first
        Assert.False(lifetime.Released.IsCompleted, "freed while a work request was still posted");

        IserConnectionCounters.Completed(); // the flush completion, as the CQ thread counts it
        lifetime.References.CompletionArrived();
        await lifetime.Released.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(["logout"], _steps.Frees);
        Assert.Equal(before, IserConnectionCounters.OutstandingWorkRequests);
    }

    [Fact]
    public async Task Freed_after_the_drain_timeout_the_work_requests_that_never_completed_leave_the_outstanding_count()
    {
        var lifetime = Attached(TimeSpan.FromMilliseconds(100));
        long before = IserConnectionCounters.OutstandingWorkRequests;
        lifetime.References.AddPosted(2);
        IserConnectionCounters.Posted(2);
        _steps.Uncompleted = 2; // the provider never flushes them

        lifetime.Terminate("disposed");
        await lifetime.Released.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Single(_steps.Frees);
        Assert.True(before == IserConnectionCounters.OutstandingWorkRequests,
            $"{IserConnectionCounters.OutstandingWorkRequests - before} work request(s) still counted outstanding after their QP was destroyed");
    }

    [Fact]
    public void A_failure_before_the_steps_are_attached_tears_down_at_attach_without_posting_what_is_staged()
    {
        var lifetime = new ConnectionLifetime("iser:peer", NullLogger.Instance, TimeSpan.FromSeconds(30));
        lifetime.Fail(new DatamoverException("polling the CQ failed"));
        Assert.Empty(_steps.Disconnects);

        lifetime.Attach(_steps);

        Assert.Equal(["polling the CQ failed"], _steps.Failures);
        Assert.Equal([false], _steps.Disconnects);
        Assert.True(lifetime.IsClosing);
        var error = Assert.Throws<DatamoverException>(lifetime.ThrowIfClosed);
        Assert.Equal("polling the CQ failed", error.Message);
    }

    [Fact]
    public void A_close_of_our_own_is_told_to_the_reader_but_a_peer_disconnect_is_a_clean_end()
    {
        var ours = Attached(TimeSpan.FromSeconds(30));
        ours.Terminate("the login was refused");
        Assert.Contains("closed on this side (the login was refused)", ours.EndOfStreamError()!.Message);

        var theirs = Attached(TimeSpan.FromSeconds(30));
        theirs.PeerDisconnected();
        Assert.Null(theirs.EndOfStreamError());
        Assert.True(theirs.Terminating);
    }

    private ConnectionLifetime Attached(TimeSpan drainTimeout)
    {
        var lifetime = new ConnectionLifetime("iser:peer", NullLogger.Instance, drainTimeout);
        lifetime.Attach(_steps);
        return lifetime;
    }

    private sealed class FakeSteps : IConnectionLifetimeOwner
    {
        public List<string> Failures { get; } = new();
        public List<bool> Disconnects { get; } = new();
        public List<string> Frees { get; } = new();
        public int Uncompleted { get; set; }

        public void OnFailed(Exception error) => Failures.Add(error.Message);
        public void Disconnect(bool postStaged) => Disconnects.Add(postStaged);
        public void FreeResources(string reason)
        {
            lock (Frees) Frees.Add(reason);
        }
        public int UncompletedWorkRequests => Uncompleted;
    }
}
