using Iser.Core.Scsi.Target.Reservations;
using static Iser.Tests.ScsiTarget.Reservations.PrTestKit;

namespace Iser.Tests.ScsiTarget.Reservations;

/// <summary>The per-command path (classify, check) allocates nothing, with or without a reservation.</summary>
public class CheckAccessCostTests
{
    private static long AllocatedBy(Action action)
    {
        action(); // JIT and first-call work out of the way
        long before = GC.GetAllocatedBytesForCurrentThread();
        action();
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    private static readonly byte[] Write16 = [0x8A, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0];

    private static void Run(PersistentReservations s, ItNexus nexus)
    {
        for (int i = 0; i < 1000; i++) s.CheckAccess(nexus, ScsiCommandClassifier.Classify(Write16));
    }

    [Fact]
    public void Without_a_reservation()
    {
        var s = new PersistentReservations();
        AssertGood(s.Register(A, 0xA1));
        Assert.Equal(0, AllocatedBy(() => Run(s, B)));
    }

    [Fact]
    public void With_a_persistent_reservation()
    {
        var s = Reserved(PrType.ExclusiveAccessRegistrantsOnly, A, (A, 0xA1), (B, 0xB2));
        Assert.Equal(PrAccess.Conflict, s.CheckAccess(C, ScsiCommandClass.Write));
        Assert.Equal(0, AllocatedBy(() => { Run(s, A); Run(s, B); Run(s, C); }));
    }

    [Fact]
    public void With_a_reserve6_reservation()
    {
        var s = new PersistentReservations();
        AssertGood(s.LegacyReserve(A));
        Assert.Equal(0, AllocatedBy(() => { Run(s, A); Run(s, B); }));
    }

    [Fact]
    public async Task Commands_checked_while_reservations_change_see_one_state_or_the_other()
    {
        var s = new PersistentReservations();
        AssertGood(s.Register(A, 0xA1));
        using var stop = new CancellationTokenSource();
        using var started = new ManualResetEventSlim();
        var mutator = Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                AssertGood(s.Reserve(A, 0xA1, PrType.ExclusiveAccess));
                AssertGood(s.Register(B, 0xB2));
                AssertGood(s.Out(B, PrOutServiceAction.Register, PrType.None, Keys(0xB2, 0)));
                AssertGood(s.Release(A, 0xA1, PrType.ExclusiveAccess));
                started.Set();
            }
        });
        started.Wait(TimeSpan.FromSeconds(10));
        for (int i = 0; i < 100_000; i++)
        {
            // A holds the reservation or nothing is reserved: A's writes never conflict. C's checks scan the registrations while B comes and goes.
            Assert.Equal(PrAccess.Allowed, s.CheckAccess(A, ScsiCommandClass.Write));
            s.CheckAccess(C, ScsiCommandClass.Read);
        }
        stop.Cancel();
        await mutator;
    }
}
