using Iser.Core.Scsi.Target.Reservations;
using static Iser.Tests.ScsiTarget.Reservations.PrTestKit;

namespace Iser.Tests.ScsiTarget.Reservations;

/// <summary>RESERVE(6)/(10) and RELEASE(6)/(10) beside persistent reservations (SPC-2 §5.5.1, CRH 0), and resets.</summary>
public class LegacyReservationTests
{
    [Fact]
    public void Reserve_by_another_nexus_is_a_reservation_conflict_and_by_the_holder_good()
    {
        var s = new PersistentReservations();
        AssertGood(s.LegacyReserve(A));
        AssertGood(s.LegacyReserve(A));
        AssertConflict(s.LegacyReserve(B));
        AssertConflict(s.LegacyReserve(A2)); // same initiator, another target port: another nexus
    }

    [Fact]
    public void Release_by_another_nexus_is_good_and_releases_nothing()
    {
        var s = new PersistentReservations();
        AssertGood(s.LegacyReserve(A));
        AssertGood(s.LegacyRelease(B));
        Assert.Equal(PrAccess.Conflict, s.CheckAccess(B, ScsiCommandClass.Read));
        AssertGood(s.LegacyRelease(A));
        Assert.Equal(PrAccess.Allowed, s.CheckAccess(B, ScsiCommandClass.Write));
    }

    [Fact]
    public void Reserve_and_release_conflict_while_any_registration_exists()
    {
        var s = new PersistentReservations();
        AssertGood(s.Register(A, 0xA1));
        AssertConflict(s.LegacyReserve(A));
        AssertConflict(s.LegacyReserve(B));
        AssertConflict(s.LegacyRelease(A));
    }

    [Fact]
    public void Persistent_reserve_commands_conflict_while_a_reserve_is_held_even_from_the_holder()
    {
        var s = new PersistentReservations();
        AssertGood(s.LegacyReserve(A));
        AssertConflict(s.Register(A, 0xA1));
        AssertConflict(s.Register(B, 0xB2));
        Assert.Equal(0, s.RegistrationCount);
        Assert.Equal(0u, s.Generation);
    }

    [Fact]
    public void A_logical_unit_reset_releases_the_reserve_and_keeps_the_persistent_state()
    {
        var s = new PersistentReservations();
        AssertGood(s.LegacyReserve(A));
        s.OnReset();
        Assert.Equal(PrAccess.Allowed, s.CheckAccess(B, ScsiCommandClass.Write));

        var p = Reserved(PrType.ExclusiveAccess, A, (A, 0xA1));
        uint generation = p.Generation;
        p.OnReset();
        Assert.Equal((0xA1UL, PrType.ExclusiveAccess), ReadReservation(p));
        Assert.Equal(generation, p.Generation);
        Assert.Equal(PrAccess.Conflict, p.CheckAccess(B, ScsiCommandClass.Read));
    }

    [Fact]
    public void Losing_the_holders_nexus_releases_the_reserve_and_losing_another_does_not()
    {
        var s = new PersistentReservations();
        AssertGood(s.LegacyReserve(A));
        s.OnNexusLoss(B);
        Assert.Equal(PrAccess.Conflict, s.CheckAccess(B, ScsiCommandClass.Read));
        s.OnNexusLoss(A);
        Assert.Equal(PrAccess.Allowed, s.CheckAccess(B, ScsiCommandClass.Read));
    }

    [Fact]
    public void Losing_a_nexus_keeps_its_persistent_registration_and_reservation()
    {
        var s = Reserved(PrType.WriteExclusive, A, (A, 0xA1));
        s.OnNexusLoss(A);
        Assert.Equal((0xA1UL, PrType.WriteExclusive), ReadReservation(s));
        Assert.Equal(PrAccess.Allowed, s.CheckAccess(A, ScsiCommandClass.Write));
    }
}
