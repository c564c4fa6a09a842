using Iser.Core.Scsi.Target.Reservations;
using static Iser.Tests.ScsiTarget.Reservations.PrTestKit;

namespace Iser.Tests.ScsiTarget.Reservations;

/// <summary>CLEAR (SPC-4 §5.13.11.2.7), PREEMPT and PREEMPT AND ABORT (§5.13.11.4, §5.13.11.2.6).</summary>
public class ClearAndPreemptTests
{
    [Fact]
    public void Clear_removes_everything_and_tells_the_others_reservations_preempted()
    {
        var s = Reserved(PrType.ExclusiveAccess, A, (A, 0xA1), (B, 0xB2), (C, 0xC3));
        uint before = s.Generation;
        var o = s.Out(B, PrOutServiceAction.Clear, PrType.None, Keys(0xB2));
        AssertGood(o);
        Assert.Empty(ReadKeys(s));
        Assert.Null(ReadReservation(s));
        Assert.Equal(before + 1, s.Generation);
        Assert.Equal([(0x2A, 0x03)], UnitAttentionsFor(o, A));
        Assert.Equal([(0x2A, 0x03)], UnitAttentionsFor(o, C));
        Assert.Empty(UnitAttentionsFor(o, B));
    }

    [Fact]
    public void Clear_from_an_unregistered_nexus_or_with_the_wrong_key_is_a_reservation_conflict()
    {
        var s = Reserved(PrType.ExclusiveAccess, A, (A, 0xA1));
        AssertConflict(s.Out(B, PrOutServiceAction.Clear, PrType.None, Keys(0)));
        AssertConflict(s.Out(A, PrOutServiceAction.Clear, PrType.None, Keys(0xA2)));
        Assert.Equal([0xA1UL], ReadKeys(s));
    }

    [Fact]
    public void Preempting_the_holder_moves_the_reservation_and_removes_the_holders_registration()
    {
        var s = Reserved(PrType.WriteExclusive, A, (A, 0xA1), (B, 0xB2), (C, 0xC3));
        uint before = s.Generation;
        var o = s.Preempt(B, 0xB2, 0xA1, PrType.ExclusiveAccess);
        AssertGood(o);
        Assert.Equal((0xB2UL, PrType.ExclusiveAccess), ReadReservation(s));
        Assert.Equal([0xB2UL, 0xC3UL], ReadKeys(s));
        Assert.Equal(before + 1, s.Generation);
        Assert.Equal([(0x2A, 0x05)], UnitAttentionsFor(o, A));             // REGISTRATIONS PREEMPTED
        Assert.Equal([(0x2A, 0x04)], UnitAttentionsFor(o, C));             // type changed: RESERVATIONS RELEASED
        Assert.Empty(UnitAttentionsFor(o, B));
        Assert.Empty(o.AbortTasksOf);
    }

    [Fact]
    public void Preempting_the_holder_with_the_same_type_does_not_announce_a_release()
    {
        var s = Reserved(PrType.WriteExclusive, A, (A, 0xA1), (B, 0xB2), (C, 0xC3));
        var o = s.Preempt(B, 0xB2, 0xA1, PrType.WriteExclusive);
        AssertGood(o);
        Assert.Empty(UnitAttentionsFor(o, C));
    }

    [Fact]
    public void The_holder_may_preempt_itself_to_change_the_type_and_keeps_its_registration()
    {
        var s = Reserved(PrType.WriteExclusive, A, (A, 0xA1), (B, 0xB2));
        var o = s.Preempt(A, 0xA1, 0xA1, PrType.ExclusiveAccess);
        AssertGood(o);
        Assert.Equal((0xA1UL, PrType.ExclusiveAccess), ReadReservation(s));
        Assert.Equal([0xA1UL, 0xB2UL], ReadKeys(s));
        Assert.Equal([(0x2A, 0x04)], UnitAttentionsFor(o, B));
    }

    [Fact]
    public void Preempting_a_key_that_does_not_hold_removes_its_registrations_and_leaves_the_reservation()
    {
        var s = Reserved(PrType.WriteExclusiveRegistrantsOnly, A, (A, 0xA1), (B, 0xB2), (C, 0xB2));
        var o = s.Preempt(A, 0xA1, 0xB2, PrType.ExclusiveAccess);
        AssertGood(o);
        Assert.Equal([0xA1UL], ReadKeys(s));
        // TYPE is ignored when no reservation is preempted.
        Assert.Equal((0xA1UL, PrType.WriteExclusiveRegistrantsOnly), ReadReservation(s));
        Assert.Equal([(0x2A, 0x05)], UnitAttentionsFor(o, B));
        Assert.Equal([(0x2A, 0x05)], UnitAttentionsFor(o, C));
    }

    [Fact]
    public void Preempt_without_a_reservation_removes_registrations()
    {
        var s = new PersistentReservations();
        AssertGood(s.Register(A, 0xA1));
        AssertGood(s.Register(B, 0xB2));
        AssertGood(s.Preempt(A, 0xA1, 0xB2, PrType.WriteExclusive));
        Assert.Equal([0xA1UL], ReadKeys(s));
        Assert.Null(ReadReservation(s));
    }

    [Fact]
    public void Preempting_a_key_nobody_holds_is_a_reservation_conflict()
    {
        var s = Reserved(PrType.WriteExclusive, A, (A, 0xA1), (B, 0xB2));
        uint before = s.Generation;
        AssertConflict(s.Preempt(B, 0xB2, 0xEE, PrType.WriteExclusive));
        Assert.Equal(before, s.Generation);
        Assert.Equal([0xA1UL, 0xB2UL], ReadKeys(s));
    }

    [Fact]
    public void Preempt_with_key_zero_when_no_all_registrants_reservation_exists_is_an_invalid_field_in_the_parameter_list()
    {
        var s = Reserved(PrType.WriteExclusive, A, (A, 0xA1), (B, 0xB2));
        AssertInvalidFieldInParameterList(s.Preempt(B, 0xB2, 0, PrType.WriteExclusive), 8);
        var t = new PersistentReservations();
        AssertGood(t.Register(A, 0xA1));
        AssertInvalidFieldInParameterList(t.Preempt(A, 0xA1, 0, PrType.WriteExclusive), 8);
    }

    [Fact]
    public void Preempt_with_key_zero_under_all_registrants_removes_every_other_registration_and_takes_the_reservation()
    {
        var s = Reserved(PrType.WriteExclusiveAllRegistrants, A, (A, 0xA1), (B, 0xB2), (C, 0xC3));
        var o = s.Preempt(B, 0xB2, 0, PrType.ExclusiveAccess);
        AssertGood(o);
        Assert.Equal([0xB2UL], ReadKeys(s));
        Assert.Equal((0xB2UL, PrType.ExclusiveAccess), ReadReservation(s));
        Assert.Equal([(0x2A, 0x05)], UnitAttentionsFor(o, A));
        Assert.Equal([(0x2A, 0x05)], UnitAttentionsFor(o, C));
        Assert.Empty(UnitAttentionsFor(o, B));
    }

    [Fact]
    public void Preempt_with_a_key_under_all_registrants_only_removes_that_key()
    {
        var s = Reserved(PrType.ExclusiveAccessAllRegistrants, A, (A, 0xA1), (B, 0xB2), (C, 0xC3));
        var o = s.Preempt(A, 0xA1, 0xC3, PrType.WriteExclusive);
        AssertGood(o);
        Assert.Equal([0xA1UL, 0xB2UL], ReadKeys(s));
        Assert.Equal((0UL, PrType.ExclusiveAccessAllRegistrants), ReadReservation(s));
        Assert.Equal([(0x2A, 0x05)], UnitAttentionsFor(o, C));
        Assert.Empty(UnitAttentionsFor(o, B));
    }

    [Fact]
    public void Preempt_from_an_unregistered_nexus_is_a_reservation_conflict()
    {
        var s = Reserved(PrType.WriteExclusive, A, (A, 0xA1));
        AssertConflict(s.Preempt(B, 0, 0xA1, PrType.WriteExclusive));
        Assert.Equal((0xA1UL, PrType.WriteExclusive), ReadReservation(s));
    }

    [Fact]
    public void Preempt_with_an_undefined_type_is_an_invalid_field_in_the_cdb()
    {
        var s = Reserved(PrType.WriteExclusive, A, (A, 0xA1), (B, 0xB2));
        AssertInvalidFieldInCdb(s.Preempt(B, 0xB2, 0xA1, (PrType)2), 2, 3);
    }

    [Fact]
    public void Preempt_and_abort_names_the_preempted_nexuses_for_task_abort()
    {
        var s = Reserved(PrType.ExclusiveAccess, A, (A, 0xA1), (B, 0xB2), (C, 0xC3));
        var o = s.Preempt(B, 0xB2, 0xA1, PrType.ExclusiveAccess, abort: true);
        AssertGood(o);
        Assert.Equal([ItNexusPattern.Of(A)], o.AbortTasksOf);
        Assert.Equal((0xB2UL, PrType.ExclusiveAccess), ReadReservation(s));
        Assert.Equal([(0x2A, 0x05)], UnitAttentionsFor(o, A));
    }

    [Fact]
    public void Preempt_and_abort_aborts_every_nexus_registered_with_the_key_holder_or_not()
    {
        var s = Reserved(PrType.WriteExclusive, A, (A, 0xA1), (B, 0xB2), (C, 0xA1));
        var o = s.Preempt(B, 0xB2, 0xA1, PrType.WriteExclusive, abort: true);
        AssertGood(o);
        Assert.Equal([ItNexusPattern.Of(A), ItNexusPattern.Of(C)], o.AbortTasksOf);
        Assert.Equal([0xB2UL], ReadKeys(s));
    }

    [Fact]
    public void Preempt_and_abort_with_key_zero_under_all_registrants_aborts_every_registered_nexus()
    {
        var s = Reserved(PrType.ExclusiveAccessAllRegistrants, A, (A, 0xA1), (B, 0xB2));
        var o = s.Preempt(B, 0xB2, 0, PrType.ExclusiveAccess, abort: true);
        AssertGood(o);
        Assert.Equal([ItNexusPattern.Of(A), ItNexusPattern.Of(B)], o.AbortTasksOf);
    }

    [Fact]
    public void Preempt_and_abort_without_a_held_key_aborts_those_it_removes()
    {
        var s = new PersistentReservations();
        AssertGood(s.Register(A, 0xA1));
        AssertGood(s.Register(B, 0xB2));
        var o = s.Preempt(A, 0xA1, 0xB2, PrType.WriteExclusive, abort: true);
        AssertGood(o);
        Assert.Equal([ItNexusPattern.Of(B)], o.AbortTasksOf);
    }

    [Fact]
    public void A_preempted_all_target_ports_registration_is_announced_to_all_its_target_ports()
    {
        var s = new PersistentReservations();
        AssertGood(s.Register(A, 0xA1, allTargetPorts: true));
        AssertGood(s.Register(B, 0xB2));
        var o = s.Preempt(B, 0xB2, 0xA1, PrType.WriteExclusive);
        AssertGood(o);
        Assert.Equal([(0x2A, 0x05)], UnitAttentionsFor(o, A));
        Assert.Equal([(0x2A, 0x05)], UnitAttentionsFor(o, A2));
    }
}
