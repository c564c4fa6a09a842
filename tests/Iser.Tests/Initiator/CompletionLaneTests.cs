using Iser.Core.Datamover;
using Iser.Core.Iscsi.Initiator;
using Iser.Core.Iscsi.Pdus;
using Iser.Core.Scsi;

namespace Iser.Tests.Initiator;

/// <summary>
/// The default completion mode's batching (<see cref="CompletionLane"/>) without a network: the results of one read
/// run as one thread-pool work item with the connection's sends held, a continuation that blocks does not hold the
/// rest of its batch, and nothing waits for an idle moment that does not come.
/// </summary>
public class CompletionLaneTests
{
    [Fact]
    public async Task A_batch_runs_its_continuations_in_order_on_one_pool_thread_with_the_sends_held_around_them()
    {
        var datamover = new SendBatchProbe();
        var lane = new CompletionLane(datamover);
        var tasks = Enumerable.Range(0, 3).Select(_ => NewTask()).ToArray();
        var ran = new List<(int Index, int Thread, bool Pool, bool InBatch)>();
        var all = tasks.Select((task, i) => Resume(task, i, ran, datamover)).ToArray();

        foreach (var task in tasks) lane.Defer(task, Good);
        Assert.Empty(ran); // nothing published before the transport goes idle
        lane.Flush();
        await Task.WhenAll(all).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal([0, 1, 2], ran.Select(r => r.Index));
        Assert.Single(ran.Select(r => r.Thread).Distinct());
        Assert.All(ran, r => Assert.True(r.Pool, "continuations run on the thread pool"));
        Assert.All(ran, r => Assert.True(r.InBatch, "each continuation ran inside one send batch"));
        Assert.Equal(1, datamover.Begun);
        // The last continuation released this test before its drainer left the batch: the batch ends just after.
        Assert.True(SpinWait.SpinUntil(() => Volatile.Read(ref datamover.Ended) == 1, TimeSpan.FromSeconds(10)), "the send batch never ended");
        Assert.Equal(0, lane.Rescues);
    }

    [Fact]
    public async Task A_continuation_blocking_on_a_later_result_of_its_own_batch_is_released_by_moving_the_rest_to_another_thread()
    {
        var datamover = new SendBatchProbe();
        var lane = new CompletionLane(datamover);
        CompletionLaneWatchdog.Register(lane);
        try
        {
            var first = NewTask();
            var second = NewTask();
            var secondResult = second.AsValueTask().AsTask();
            var blocked = Task.Run(async () =>
            {
                await first.AsValueTask();
                // Sync over async on a pool thread: the result it waits for is queued behind it in the same batch.
                var clock = System.Diagnostics.Stopwatch.StartNew();
                bool released = secondResult.Wait(TimeSpan.FromSeconds(10));
                return (released, clock.Elapsed);
            });
            await Task.Delay(50); // the continuation is registered
            lane.Defer(first, Good);
            lane.Defer(second, Good);
            lane.Flush();

            var (released, waited) = await blocked.WaitAsync(TimeSpan.FromSeconds(20));
            Assert.True(released, "the second result was never published: the batch stayed behind the blocked continuation");
            Assert.True(waited < TimeSpan.FromSeconds(2), $"released after {waited}");
            Assert.Equal(1, lane.Rescues);
            Assert.True(datamover.Flushed >= 1, "the stuck batch's held sends were flushed");
            Assert.Equal(ScsiStatus.Good, (await secondResult).Status);
        }
        finally
        {
            CompletionLaneWatchdog.Unregister(lane);
        }
    }

    [Fact]
    public async Task A_result_held_longer_than_the_limit_goes_out_without_an_idle_moment()
    {
        var lane = new CompletionLane(new SendBatchProbe());
        var task = NewTask();
        var result = task.AsValueTask().AsTask();
        lane.Defer(task, Good);
        await Task.Delay(20);
        Assert.False(result.IsCompleted, "published without an idle moment or a check of its age");

        lane.FlushIfHeldTooLong(); // 20 ms > 100 µs
        Assert.Equal(ScsiStatus.Good, (await result.WaitAsync(TimeSpan.FromSeconds(10))).Status);
    }

    [Fact]
    public async Task Results_deferred_while_a_batch_runs_are_taken_by_the_same_drainer()
    {
        var datamover = new SendBatchProbe();
        var lane = new CompletionLane(datamover);
        var first = NewTask();
        var later = NewTask();
        var laterResult = later.AsValueTask().AsTask();
        var inFirst = new TaskCompletionSource();
        var release = new ManualResetEventSlim();
        var firstDone = Task.Run(async () =>
        {
            await first.AsValueTask();
            inFirst.SetResult();
            release.Wait(TimeSpan.FromSeconds(10)); // short of the watchdog: it is not registered here
        });
        await Task.Delay(50);
        lane.Defer(first, Good);
        lane.Flush();
        await inFirst.Task.WaitAsync(TimeSpan.FromSeconds(10));

        lane.Defer(later, Good);
        lane.Flush(); // a drainer is at work: no second work item
        release.Set();
        await Task.WhenAll(firstDone, laterResult).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(2, datamover.Begun); // two batches, one drainer
    }

    private static readonly ScsiResponse Good = new() { Status = ScsiStatus.Good };

    private static InitiatorTask NewTask()
    {
        var task = new InitiatorTask();
        task.Prepare([0x00, 0, 0, 0, 0, 0], 0, default, default, ScsiTaskAttribute.Simple, inlineContinuation: false);
        Assert.True(task.TryClaim());
        return task;
    }

    private static async Task Resume(InitiatorTask task, int index, List<(int, int, bool, bool)> ran, SendBatchProbe datamover)
    {
        await task.AsValueTask().ConfigureAwait(false); // not the test's synchronization context: where the lane ran it
        lock (ran) ran.Add((index, Environment.CurrentManagedThreadId, Thread.CurrentThread.IsThreadPoolThread, datamover.InBatch));
    }

    /// <summary>An initiator datamover that only records the send-batch calls.</summary>
    private sealed class SendBatchProbe : IInitiatorDatamover
    {
        [ThreadStatic] private static bool t_inBatch;
        public int Begun, Ended, Flushed;
        public bool InBatch => t_inBatch;

        public bool ReportsReceiveIdle => true;
        public void BeginSendBatch() { Interlocked.Increment(ref Begun); t_inBatch = true; }
        public void EndSendBatch() { Interlocked.Increment(ref Ended); t_inBatch = false; }
        public void FlushSends() => Interlocked.Increment(ref Flushed);

        public string TransportName => "probe";
        public string LocalEndPoint => "here";
        public string RemoteEndPoint => "there";
        public bool PlacesDataDirectly => false;
        public ValueTask SendCommandAsync(DataTask task, Pdu command, Memory<byte> readBuffer, ReadOnlyMemory<byte> writeBuffer,
            CancellationToken cancellationToken = default) => throw new NotSupportedException();
        public void EndTask(DataTask task) { }
        public ValueTask SendControlAsync(Pdu pdu, CancellationToken cancellationToken = default) => throw new NotSupportedException();
        public ValueTask<Pdu?> ReceiveControlAsync(CancellationToken cancellationToken = default) => throw new NotSupportedException();
        public void StartReceiving(IPduReceiver receiver, bool busyPoll = false) => throw new NotSupportedException();
        public void NoticeKeyValues(ConnectionParameters parameters) { }
        public void EnableDatamover(IDatamoverHost host) { }
        public ValueTask TerminateAsync(string reason) => ValueTask.CompletedTask;
        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
