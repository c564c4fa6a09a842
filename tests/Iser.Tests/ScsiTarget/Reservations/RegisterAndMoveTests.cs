using Iser.Core.Scsi.Target.Reservations;
using static Iser.Tests.ScsiTarget.Reservations.PrTestKit;

namespace Iser.Tests.ScsiTarget.Reservations;

/// <summary>REGISTER AND MOVE (SPC-4 §5.13.8).</summary>
public class RegisterAndMoveTests
{
    private static PrOutParameters Move(ulong key, ulong newKey, IscsiTransportId to, ushort port = 1, bool unregister = false, bool aptpl = false) =>
        Keys(key, newKey, aptpl) with { RelativeTargetPortId = port, Unregister = unregister, TransportIds = [to] };

    private static IscsiTransportId PortOf(in ItNexus n) => new(n.InitiatorName, n.Isid);

    [Fact]
    public void The_holder_registers_the_destination_and_hands_it_the_reservation()
    {
        var s = Reserved(PrType.ExclusiveAccessRegistrantsOnly, A, (A, 0xA1));
        uint before = s.Generation;
        var o = s.Out(A, PrOutServiceAction.RegisterAndMove, PrType.WriteExclusive, Move(0xA1, 0xC3, PortOf(C)));
        AssertGood(o);
        // The type stays the reservation's; the CDB's TYPE is ignored.
        Assert.Equal((0xC3UL, PrType.ExclusiveAccessRegistrantsOnly), ReadReservation(s));
        Assert.Equal([0xA1UL, 0xC3UL], ReadKeys(s));
        Assert.Equal(before + 1, s.Generation);
        Assert.Equal(PrAccess.Allowed, s.CheckAccess(C, ScsiCommandClass.Write));
        // A is still registered, so registrants-only lets it write too.
        Assert.Equal(PrAccess.Allowed, s.CheckAccess(A, ScsiCommandClass.Write));
        Assert.Equal(PrAccess.Conflict, s.CheckAccess(B, ScsiCommandClass.Write));
    }

    [Fact]
    public void Unreg_unregisters_the_source_once_the_reservation_moved()
    {
        var s = Reserved(PrType.ExclusiveAccess, A, (A, 0xA1));
        AssertGood(s.Out(A, PrOutServiceAction.RegisterAndMove, PrType.None, Move(0xA1, 0xC3, PortOf(C), unregister: true)));
        Assert.Equal([0xC3UL], ReadKeys(s));
        Assert.Equal((0xC3UL, PrType.ExclusiveAccess), ReadReservation(s));
        Assert.Equal(PrAccess.Conflict, s.CheckAccess(A, ScsiCommandClass.Read));
    }

    [Fact]
    public void Moving_to_a_registered_nexus_gives_it_the_new_key()
    {
        var s = Reserved(PrType.WriteExclusive, A, (A, 0xA1), (B, 0xB2));
        AssertGood(s.Out(A, PrOutServiceAction.RegisterAndMove, PrType.None, Move(0xA1, 0xB9, PortOf(B))));
        Assert.Equal([0xA1UL, 0xB9UL], ReadKeys(s));
        Assert.Equal((0xB9UL, PrType.WriteExclusive), ReadReservation(s));
    }

    [Fact]
    public void The_destination_may_be_another_target_port()
    {
        var s = Reserved(PrType.WriteExclusive, A, (A, 0xA1));
        AssertGood(s.Out(A, PrOutServiceAction.RegisterAndMove, PrType.None, Move(0xA1, 0xC3, PortOf(C), port: 2)));
        var moved = Nexus(C.InitiatorName, C.Isid, port: 2);
        Assert.Equal(PrAccess.Allowed, s.CheckAccess(moved, ScsiCommandClass.Write));
        Assert.Equal(PrAccess.Conflict, s.CheckAccess(C, ScsiCommandClass.Write));
        Assert.Contains(ReadFullStatus(s), d => d.Holder && d.RelativeTargetPortId == 2);
    }

    [Fact]
    public void From_a_registrant_that_does_not_hold_it_is_a_reservation_conflict()
    {
        var s = Reserved(PrType.WriteExclusive, A, (A, 0xA1), (B, 0xB2));
        AssertConflict(s.Out(B, PrOutServiceAction.RegisterAndMove, PrType.None, Move(0xB2, 0xC3, PortOf(C))));
        Assert.Equal(2, s.RegistrationCount);
    }

    [Fact]
    public void From_an_unregistered_nexus_or_with_the_wrong_key_is_a_reservation_conflict()
    {
        var s = Reserved(PrType.WriteExclusive, A, (A, 0xA1));
        AssertConflict(s.Out(B, PrOutServiceAction.RegisterAndMove, PrType.None, Move(0, 0xC3, PortOf(C))));
        AssertConflict(s.Out(A, PrOutServiceAction.RegisterAndMove, PrType.None, Move(0xA2, 0xC3, PortOf(C))));
    }

    [Fact]
    public void Without_a_reservation_it_is_an_invalid_field_in_the_cdb()
    {
        var s = new PersistentReservations();
        AssertGood(s.Register(A, 0xA1));
        var o = s.Out(A, PrOutServiceAction.RegisterAndMove, PrType.None, Move(0xA1, 0xC3, PortOf(C)));
        AssertCheck(o, 0x05, 0x24, 0x00);
    }

    [Theory]
    [InlineData(PrType.WriteExclusiveAllRegistrants)]
    [InlineData(PrType.ExclusiveAccessAllRegistrants)]
    public void Under_an_all_registrants_reservation_it_is_a_reservation_conflict(PrType type)
    {
        var s = Reserved(type, A, (A, 0xA1));
        AssertConflict(s.Out(A, PrOutServiceAction.RegisterAndMove, PrType.None, Move(0xA1, 0xC3, PortOf(C))));
    }

    [Fact]
    public void A_zero_service_action_key_is_an_invalid_field_in_the_parameter_list()
    {
        var s = Reserved(PrType.WriteExclusive, A, (A, 0xA1));
        AssertInvalidFieldInParameterList(s.Out(A, PrOutServiceAction.RegisterAndMove, PrType.None, Move(0xA1, 0, PortOf(C))), 8);
    }

    [Fact]
    public void Naming_the_issuing_initiator_port_is_an_invalid_field_in_the_parameter_list()
    {
        var s = Reserved(PrType.WriteExclusive, A, (A, 0xA1));
        AssertInvalidFieldInParameterList(s.Out(A, PrOutServiceAction.RegisterAndMove, PrType.None, Move(0xA1, 0xA9, PortOf(A), port: 2)), 24);
        AssertInvalidFieldInParameterList(s.Out(A, PrOutServiceAction.RegisterAndMove, PrType.None,
            Move(0xA1, 0xA9, new IscsiTransportId(A.InitiatorName, null))), 24);
        Assert.Equal((0xA1UL, PrType.WriteExclusive), ReadReservation(s));
    }

    [Fact]
    public void A_target_port_that_does_not_exist_is_an_invalid_field_in_the_parameter_list()
    {
        var s = new PersistentReservations(new PersistentReservationOptions { TargetPortExists = port => port is 1 or 2 });
        AssertGood(s.Register(A, 0xA1));
        AssertGood(s.Reserve(A, 0xA1, PrType.WriteExclusive));
        AssertInvalidFieldInParameterList(s.Out(A, PrOutServiceAction.RegisterAndMove, PrType.None, Move(0xA1, 0xC3, PortOf(C), port: 3)), 18);
        AssertInvalidFieldInParameterList(s.Out(A, PrOutServiceAction.RegisterAndMove, PrType.None, Move(0xA1, 0xC3, PortOf(C), port: 0)), 18);
        Assert.Equal(1, s.RegistrationCount);
    }

    [Fact]
    public void Aptpl_follows_the_bit_in_the_list()
    {
        var s = Reserved(PrType.WriteExclusive, A, (A, 0xA1));
        var o = s.Out(A, PrOutServiceAction.RegisterAndMove, PrType.None, Move(0xA1, 0xC3, PortOf(C), aptpl: true));
        AssertGood(o);
        Assert.True(s.PersistThroughPowerLoss);
        Assert.True(o.PersistentStateChanged);
    }
}
