using Iser.Core.Threading;

namespace Iser.Tests.Threading;

/// <summary>
/// Two threads taking turns at a read loop (what the TCP receive thread and the iSER CQ poller use to run thread-pool
/// completions on the thread that read them): one reader at a time, the work runs while the partner reads, a busy
/// partner refuses the turn, and the end releases a waiting thread.
/// </summary>
public class TurnRelayTests
{
    [Fact]
    public void The_work_runs_on_the_passing_thread_while_the_partner_holds_the_turn_and_one_thread_reads_at_a_time()
    {
        int readers = 0, maxReaders = 0, passes = 0, workRuns = 0;
        var workThreads = new System.Collections.Concurrent.ConcurrentBag<int>();
        TurnRelay? relay = null;
        var done = new ManualResetEventSlim();
        void Loop()
        {
            while (true)
            {
                int now = Interlocked.Increment(ref readers);
                InterlockedMax(ref maxReaders, now);
                Thread.SpinWait(200); // "reading"
                Interlocked.Decrement(ref readers);
                // At least 200 passes, and until both threads have run work: on a loaded machine the partner may not
                // be scheduled before the first thread takes a pending turn back, many times over (the done wait bounds it).
                if (Volatile.Read(ref passes) >= 200 && workThreads.Distinct().Count() == 2)
                {
                    relay!.End();
                    done.Set();
                    return;
                }
                if (relay!.TryPass())
                {
                    Interlocked.Increment(ref passes);
                    workThreads.Add(Environment.CurrentManagedThreadId);
                    Interlocked.Increment(ref workRuns); // the work: runs while the partner reads
                    if (!relay.AwaitTurn()) return;
                }
            }
        }
        relay = new TurnRelay(Loop, "relay-test");
        var first = new Thread(Loop) { IsBackground = true };
        first.Start();
        Assert.True(done.Wait(TimeSpan.FromSeconds(30)), "the relay stalled");
        Assert.True(first.Join(TimeSpan.FromSeconds(10)), "the first thread did not leave after End");
        Assert.True(relay.Partner!.Join(TimeSpan.FromSeconds(10)), "the partner did not leave after End");
        Assert.Equal(1, maxReaders);
        Assert.True(workRuns >= 200);
        Assert.Equal(2, workThreads.Distinct().Count()); // both threads took turns running work
    }

    [Fact]
    public void A_partner_busy_with_its_own_work_refuses_the_turn_and_End_releases_a_waiting_thread()
    {
        var partnerReading = new ManualResetEventSlim();
        var partnerMayPass = new ManualResetEventSlim();
        TurnRelay? relay = null;
        bool? secondPass = null;
        bool? firstAwait = null;
        relay = new TurnRelay(() =>
        {
            partnerReading.Set();
            partnerMayPass.Wait();
            // The partner, holding the turn, passes it back (once the first thread waits for it) and then "works"
            // without ever asking for the turn again.
            while (!relay!.TryPass()) Thread.Sleep(1);
            Thread.Sleep(Timeout.Infinite);
        }, "relay-test-busy");

        var first = new Thread(() =>
        {
            Assert.True(relay.TryPass()); // starts the partner
            Assert.True(partnerReading.Wait(TimeSpan.FromSeconds(10)));
            partnerMayPass.Set();
            firstAwait = relay.AwaitTurn(); // the partner passes back
            secondPass = relay.TryPass();   // the partner is busy with its work: refused
            relay.End();
        }) { IsBackground = true };
        first.Start();
        Assert.True(first.Join(TimeSpan.FromSeconds(20)));
        Assert.True(firstAwait);
        Assert.False(secondPass);
        Assert.False(relay.AwaitTurn()); // ended: a thread asking for the turn leaves at once
    }

    /// <summary>
    /// A partner that passed the turn back and is past its work but not yet waiting (on its way back, where no caller
    /// code runs) is refused a plain pass, given one that says it is returning, and takes that turn on arrival
    /// without sleeping for it: its AwaitTurn returns at once and it reads on.
    /// </summary>
    [Fact]
    public void A_returning_partner_takes_a_turn_passed_before_it_arrives_without_waiting_for_a_wake_up()
    {
        var partnerReading = new ManualResetEventSlim();
        var partnerPassedBack = new ManualResetEventSlim();
        var partnerMayReturn = new ManualResetEventSlim();
        var partnerReadsAgain = new ManualResetEventSlim();
        TurnRelay? relay = null;
        bool? partnerGotTurn = null;
        long awaitTicks = 0;
        relay = new TurnRelay(() =>
        {
            // The partner holds the turn: it passes it back to the first thread (waiting by now) and runs "work".
            partnerReading.Set();
            while (!relay!.TryPass()) Thread.Sleep(1);
            partnerPassedBack.Set();
            partnerMayReturn.Wait();
            // Past its work: back to the turn, which the first thread already passed to it.
            long started = System.Diagnostics.Stopwatch.GetTimestamp();
            partnerGotTurn = relay.AwaitTurn();
            awaitTicks = System.Diagnostics.Stopwatch.GetTimestamp() - started;
            partnerReadsAgain.Set();
        }, "relay-test-returning");

        bool? plainPass = null, returningPass = null, firstAwait = null;
        var first = new Thread(() =>
        {
            Assert.True(relay.TryPass()); // starts the partner, which holds the turn
            Assert.True(partnerReading.Wait(TimeSpan.FromSeconds(10)));
            firstAwait = relay.AwaitTurn(); // back from the partner
            Assert.True(partnerPassedBack.Wait(TimeSpan.FromSeconds(10)));
            plainPass = relay.TryPass();                             // the partner is not waiting: refused
            returningPass = relay.TryPass(partnerIsReturning: true); // it is on its way back: the turn waits for it
            partnerMayReturn.Set();
        }) { IsBackground = true };
        first.Start();
        Assert.True(first.Join(TimeSpan.FromSeconds(20)));
        Assert.True(partnerReadsAgain.Wait(TimeSpan.FromSeconds(10)), "the returning partner never got its turn");
        Assert.True(firstAwait);
        Assert.False(plainPass);
        Assert.True(returningPass);
        Assert.True(partnerGotTurn);
        // Taken on arrival: no sleep on the futex for a wake-up that would never come (nobody signals it).
        Assert.True(awaitTicks < System.Diagnostics.Stopwatch.Frequency, $"AwaitTurn took {awaitTicks * 1000 / System.Diagnostics.Stopwatch.Frequency} ms");
        relay.End();
        Assert.True(relay.Partner!.Join(TimeSpan.FromSeconds(10)));
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int seen;
        while ((seen = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, seen) != seen) { }
    }
}
