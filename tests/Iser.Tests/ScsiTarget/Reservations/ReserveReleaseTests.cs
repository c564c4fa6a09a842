using Iser.Core.Scsi.Target.Reservations;
using static Iser.Tests.ScsiTarget.Reservations.PrTestKit;

namespace Iser.Tests.ScsiTarget.Reservations;

/// <summary>RESERVE (SPC-4 §5.13.9), RELEASE (§5.13.11.2.2) and unregistering the holder (§5.13.11.3).</summary>
public class ReserveReleaseTests
{
    [Fact]
    public void Reserve_establishes_the_reservation_without_bumping_the_generation()
    {
        var s = new PersistentReservations();
        AssertGood(s.Register(A, 0xA1));
        AssertGood(s.Reserve(A, 0xA1, PrType.WriteExclusiveRegistrantsOnly));
        Assert.Equal(1u, s.Generation);
        Assert.Equal((0xA1UL, PrType.WriteExclusiveRegistrantsOnly), ReadReservation(s));
    }

    [Fact]
    public void Reserve_from_an_unregistered_nexus_or_with_the_wrong_key_is_a_reservation_conflict()
    {
        var s = new PersistentReservations();
        AssertConflict(s.Reserve(A, 0, PrType.WriteExclusive));
        AssertGood(s.Register(A, 0xA1));
        AssertConflict(s.Reserve(A, 0xA2, PrType.WriteExclusive));
        Assert.Null(ReadReservation(s));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    [InlineData(4)]
    [InlineData(9)]
    [InlineData(15)]
    public void Reserve_with_an_undefined_type_is_an_invalid_field_in_the_cdb(byte type)
    {
        var s = new PersistentReservations();
        AssertGood(s.Register(A, 0xA1));
        AssertInvalidFieldInCdb(s.Reserve(A, 0xA1, (PrType)type), 2, 3);
    }

    [Fact]
    public void Reserve_again_by_the_holder_with_the_same_type_is_good_and_with_another_type_a_conflict()
    {
        var s = Reserved(PrType.WriteExclusive, A, (A, 0xA1));
        AssertGood(s.Reserve(A, 0xA1, PrType.WriteExclusive));
        AssertConflict(s.Reserve(A, 0xA1, PrType.ExclusiveAccess));
        Assert.Equal((0xA1UL, PrType.WriteExclusive), ReadReservation(s));
    }

    [Fact]
    public void Reserve_by_another_registrant_is_a_reservation_conflict()
    {
        var s = Reserved(PrType.WriteExclusiveRegistrantsOnly, A, (A, 0xA1), (B, 0xB2));
        AssertConflict(s.Reserve(B, 0xB2, PrType.WriteExclusiveRegistrantsOnly));
        Assert.Equal((0xA1UL, PrType.WriteExclusiveRegistrantsOnly), ReadReservation(s));
    }

    [Fact]
    public void Under_all_registrants_every_registrant_holds_and_may_reserve_again()
    {
        var s = Reserved(PrType.ExclusiveAccessAllRegistrants, A, (A, 0xA1), (B, 0xB2));
        AssertGood(s.Reserve(B, 0xB2, PrType.ExclusiveAccessAllRegistrants));
        // READ RESERVATION reports key 0: there is no single holder (SPC-4 §6.15.3).
        Assert.Equal((0UL, PrType.ExclusiveAccessAllRegistrants), ReadReservation(s));
        Assert.All(ReadFullStatus(s), d => Assert.True(d.Holder));
    }

    [Fact]
    public void Release_by_the_holder_releases_without_unit_attention_for_write_exclusive()
    {
        var s = Reserved(PrType.WriteExclusive, A, (A, 0xA1), (B, 0xB2));
        var o = s.Release(A, 0xA1, PrType.WriteExclusive);
        AssertGood(o);
        Assert.Null(ReadReservation(s));
        Assert.Empty(o.UnitAttentions);
        Assert.Equal(2u, s.Generation); // RELEASE does not bump it
    }

    [Theory]
    [InlineData(PrType.WriteExclusiveRegistrantsOnly)]
    [InlineData(PrType.ExclusiveAccessRegistrantsOnly)]
    [InlineData(PrType.WriteExclusiveAllRegistrants)]
    [InlineData(PrType.ExclusiveAccessAllRegistrants)]
    public void Release_of_a_registrants_type_tells_the_other_registrants_reservations_released(PrType type)
    {
        var s = Reserved(type, A, (A, 0xA1), (B, 0xB2), (C, 0xC3));
        var o = s.Release(A, 0xA1, type);
        AssertGood(o);
        Assert.Equal([(0x2A, 0x04)], UnitAttentionsFor(o, B));
        Assert.Equal([(0x2A, 0x04)], UnitAttentionsFor(o, C));
        Assert.Empty(UnitAttentionsFor(o, A));
    }

    [Fact]
    public void Release_naming_another_type_is_invalid_release_of_persistent_reservation()
    {
        var s = Reserved(PrType.ExclusiveAccess, A, (A, 0xA1));
        AssertCheck(s.Release(A, 0xA1, PrType.WriteExclusive), 0x05, 0x26, 0x04);
        Assert.Equal((0xA1UL, PrType.ExclusiveAccess), ReadReservation(s));
    }

    [Fact]
    public void Release_by_a_registrant_that_does_not_hold_is_good_and_changes_nothing()
    {
        var s = Reserved(PrType.ExclusiveAccessRegistrantsOnly, A, (A, 0xA1), (B, 0xB2));
        var o = s.Release(B, 0xB2, PrType.ExclusiveAccessRegistrantsOnly);
        AssertGood(o);
        Assert.Empty(o.UnitAttentions);
        Assert.Equal((0xA1UL, PrType.ExclusiveAccessRegistrantsOnly), ReadReservation(s));
    }

    [Fact]
    public void Release_without_a_reservation_is_good()
    {
        var s = new PersistentReservations();
        AssertGood(s.Register(A, 0xA1));
        AssertGood(s.Release(A, 0xA1, PrType.WriteExclusive));
    }

    [Fact]
    public void Release_from_an_unregistered_nexus_or_with_the_wrong_key_is_a_reservation_conflict()
    {
        var s = Reserved(PrType.WriteExclusive, A, (A, 0xA1));
        AssertConflict(s.Release(B, 0, PrType.WriteExclusive));
        AssertConflict(s.Release(A, 0xA2, PrType.WriteExclusive));
        Assert.NotNull(ReadReservation(s));
    }

    [Fact]
    public void The_holder_unregistering_releases_the_reservation()
    {
        var s = Reserved(PrType.ExclusiveAccess, A, (A, 0xA1), (B, 0xB2));
        var o = s.Out(A, PrOutServiceAction.Register, PrType.None, Keys(0xA1, 0));
        AssertGood(o);
        Assert.Null(ReadReservation(s));
        Assert.Empty(o.UnitAttentions); // only registrants-only types announce it
    }

    [Fact]
    public void The_holder_of_a_registrants_only_reservation_unregistering_tells_the_others()
    {
        var s = Reserved(PrType.WriteExclusiveRegistrantsOnly, A, (A, 0xA1), (B, 0xB2));
        var o = s.Out(A, PrOutServiceAction.RegisterAndIgnoreExistingKey, PrType.None, Keys(0, 0));
        AssertGood(o);
        Assert.Null(ReadReservation(s));
        Assert.Equal([(0x2A, 0x04)], UnitAttentionsFor(o, B));
    }

    [Fact]
    public void An_all_registrants_reservation_lasts_until_the_last_registrant_goes()
    {
        var s = Reserved(PrType.WriteExclusiveAllRegistrants, A, (A, 0xA1), (B, 0xB2));
        AssertGood(s.Out(A, PrOutServiceAction.Register, PrType.None, Keys(0xA1, 0)));
        Assert.Equal((0UL, PrType.WriteExclusiveAllRegistrants), ReadReservation(s));
        Assert.Equal(PrAccess.Allowed, s.CheckAccess(B, ScsiCommandClass.Write));
        Assert.Equal(PrAccess.Conflict, s.CheckAccess(A, ScsiCommandClass.Write));
        AssertGood(s.Out(B, PrOutServiceAction.Register, PrType.None, Keys(0xB2, 0)));
        Assert.Null(ReadReservation(s));
        Assert.Equal(PrAccess.Allowed, s.CheckAccess(A, ScsiCommandClass.Write));
    }

    [Fact]
    public void A_registrant_that_joins_an_all_registrants_reservation_holds_it()
    {
        var s = Reserved(PrType.ExclusiveAccessAllRegistrants, A, (A, 0xA1));
        Assert.Equal(PrAccess.Conflict, s.CheckAccess(C, ScsiCommandClass.Read));
        AssertGood(s.Register(C, 0xC3));
        Assert.Equal(PrAccess.Allowed, s.CheckAccess(C, ScsiCommandClass.Write));
    }

    [Fact]
    public void Changing_the_holders_key_keeps_the_reservation()
    {
        var s = Reserved(PrType.ExclusiveAccess, A, (A, 0xA1));
        AssertGood(s.Out(A, PrOutServiceAction.Register, PrType.None, Keys(0xA1, 0xA9)));
        Assert.Equal((0xA9UL, PrType.ExclusiveAccess), ReadReservation(s));
    }
}
