using Iser.Core.Scsi.Target.Reservations;
using static Iser.Tests.ScsiTarget.Reservations.PrTestKit;

namespace Iser.Tests.ScsiTarget.Reservations;

/// <summary>REGISTER and REGISTER AND IGNORE EXISTING KEY (SPC-4 §5.13.7, register behaviour tables), SPEC_I_PT and ALL_TG_PT.</summary>
public class RegisterTests
{
    [Fact]
    public void Registering_adds_the_key_and_bumps_the_generation()
    {
        var s = new PersistentReservations();
        AssertGood(s.Register(A, 0x1111));
        AssertGood(s.Register(B, 0x2222));
        Assert.Equal([0x1111UL, 0x2222UL], ReadKeys(s));
        Assert.Equal(2u, s.Generation);
        var d = Assert.Single(ReadFullStatus(s), x => x.Key == 0x1111);
        Assert.Equal(new IscsiTransportId(A.InitiatorName, A.Isid), d.TransportId);
        Assert.Equal(1, d.RelativeTargetPortId);
        Assert.False(d.AllTargetPorts);
    }

    [Fact]
    public void An_unregistered_nexus_with_a_nonzero_reservation_key_is_a_reservation_conflict()
    {
        var s = new PersistentReservations();
        AssertConflict(s.Out(A, PrOutServiceAction.Register, PrType.None, Keys(0x5, 0x1111)));
        Assert.Empty(ReadKeys(s));
        Assert.Equal(0u, s.Generation);
    }

    [Fact]
    public void An_unregistered_nexus_registering_key_zero_gets_good_and_nothing_is_registered()
    {
        var s = new PersistentReservations();
        AssertGood(s.Register(A, 0));
        Assert.Empty(ReadKeys(s));
    }

    [Fact]
    public void A_registered_nexus_with_the_wrong_key_is_a_reservation_conflict_and_changes_nothing()
    {
        var s = new PersistentReservations();
        AssertGood(s.Register(A, 0x1111));
        AssertConflict(s.Out(A, PrOutServiceAction.Register, PrType.None, Keys(0x9999, 0x2222)));
        Assert.Equal([0x1111UL], ReadKeys(s));
        Assert.Equal(1u, s.Generation);
    }

    [Fact]
    public void A_registered_nexus_changes_its_key()
    {
        var s = new PersistentReservations();
        AssertGood(s.Register(A, 0x1111));
        AssertGood(s.Out(A, PrOutServiceAction.Register, PrType.None, Keys(0x1111, 0x2222)));
        Assert.Equal([0x2222UL], ReadKeys(s));
        Assert.Equal(2u, s.Generation);
    }

    [Fact]
    public void A_registered_nexus_registering_key_zero_unregisters()
    {
        var s = new PersistentReservations();
        AssertGood(s.Register(A, 0x1111));
        AssertGood(s.Register(B, 0x2222));
        AssertGood(s.Out(A, PrOutServiceAction.Register, PrType.None, Keys(0x1111, 0)));
        Assert.Equal([0x2222UL], ReadKeys(s));
    }

    [Fact]
    public void Register_and_ignore_existing_key_ignores_the_reservation_key_field()
    {
        var s = new PersistentReservations();
        AssertGood(s.Out(A, PrOutServiceAction.RegisterAndIgnoreExistingKey, PrType.None, Keys(0xDEAD, 0x1111)));
        AssertGood(s.Out(A, PrOutServiceAction.RegisterAndIgnoreExistingKey, PrType.None, Keys(0xBEEF, 0x2222)));
        Assert.Equal([0x2222UL], ReadKeys(s));
        AssertGood(s.Out(A, PrOutServiceAction.RegisterAndIgnoreExistingKey, PrType.None, Keys(0, 0)));
        Assert.Empty(ReadKeys(s));
        Assert.Equal(3u, s.Generation);
    }

    [Fact]
    public void Register_and_ignore_existing_key_refuses_spec_i_pt()
    {
        var s = new PersistentReservations();
        var p = Keys(0, 0x1111) with { SpecifyInitiatorPorts = true, TransportIds = [new IscsiTransportId(B.InitiatorName, null)] };
        AssertInvalidFieldInParameterList(s.Out(A, PrOutServiceAction.RegisterAndIgnoreExistingKey, PrType.None, p), 20, 3);
    }

    [Fact]
    public void All_target_ports_registers_the_initiator_port_through_every_target_port()
    {
        var s = new PersistentReservations();
        AssertGood(s.Register(A, 0x1111, allTargetPorts: true));
        // Through target port 2 the same initiator port is registered: its key works there.
        AssertGood(s.Reserve(A2, 0x1111, PrType.WriteExclusive));
        var d = Assert.Single(ReadFullStatus(s));
        Assert.True(d.AllTargetPorts);
        Assert.True(d.Holder);
    }

    [Fact]
    public void All_target_ports_over_a_port_already_registered_is_refused()
    {
        var s = new PersistentReservations();
        AssertGood(s.Register(A2, 0x2222));
        AssertInvalidFieldInParameterList(s.Register(A, 0x1111, allTargetPorts: true), 20, 2);
        Assert.Equal([0x2222UL], ReadKeys(s));
    }

    [Fact]
    public void Spec_i_pt_registers_every_listed_initiator_port_with_the_key()
    {
        var s = new PersistentReservations();
        var p = Keys(0, 0x7777) with
        {
            SpecifyInitiatorPorts = true,
            TransportIds = [new IscsiTransportId(B.InitiatorName, B.Isid), new IscsiTransportId(C.InitiatorName, null)],
        };
        AssertGood(s.Out(A, PrOutServiceAction.Register, PrType.None, p));
        Assert.Equal([0x7777UL, 0x7777UL, 0x7777UL], ReadKeys(s));
        Assert.Equal(1u, s.Generation);
        // B's port and any port of C are registered now, through the port the command came in on.
        AssertGood(s.Reserve(B, 0x7777, PrType.ExclusiveAccess));
        AssertGood(s.Release(B, 0x7777, PrType.ExclusiveAccess));
        AssertGood(s.Reserve(Nexus(C.InitiatorName, 0x4242), 0x7777, PrType.WriteExclusive));
        var statuses = ReadFullStatus(s);
        Assert.Contains(statuses, d => d.TransportId == new IscsiTransportId(C.InitiatorName, null) && d.Holder);
    }

    [Fact]
    public void Spec_i_pt_naming_the_issuing_port_registers_it_once()
    {
        var s = new PersistentReservations();
        var p = Keys(0, 0x7777) with { SpecifyInitiatorPorts = true, TransportIds = [new IscsiTransportId(A.InitiatorName, A.Isid)] };
        AssertGood(s.Out(A, PrOutServiceAction.Register, PrType.None, p));
        Assert.Single(ReadKeys(s));
    }

    [Fact]
    public void Spec_i_pt_naming_a_registered_port_registers_none_of_them()
    {
        var s = new PersistentReservations();
        AssertGood(s.Register(C, 0x3333));
        var p = Keys(0, 0x7777) with
        {
            SpecifyInitiatorPorts = true,
            TransportIds = [new IscsiTransportId(B.InitiatorName, B.Isid), new IscsiTransportId(C.InitiatorName, C.Isid)],
        };
        AssertInvalidFieldInParameterList(s.Out(A, PrOutServiceAction.Register, PrType.None, p), 24);
        Assert.Equal([0x3333UL], ReadKeys(s));
        Assert.Equal(1u, s.Generation);
    }

    [Fact]
    public void Spec_i_pt_naming_a_port_twice_is_refused()
    {
        var s = new PersistentReservations();
        var p = Keys(0, 0x7777) with
        {
            SpecifyInitiatorPorts = true,
            TransportIds = [new IscsiTransportId(B.InitiatorName, null), new IscsiTransportId(B.InitiatorName.ToUpperInvariant(), B.Isid)],
        };
        AssertInvalidFieldInParameterList(s.Out(A, PrOutServiceAction.Register, PrType.None, p), 24);
        Assert.Empty(ReadKeys(s));
    }

    [Fact]
    public void Spec_i_pt_from_a_registered_nexus_is_an_invalid_field_in_the_parameter_list()
    {
        var s = new PersistentReservations();
        AssertGood(s.Register(A, 0x1111));
        var p = Keys(0x1111, 0x2222) with { SpecifyInitiatorPorts = true, TransportIds = [new IscsiTransportId(B.InitiatorName, null)] };
        AssertInvalidFieldInParameterList(s.Out(A, PrOutServiceAction.Register, PrType.None, p), 20, 3);
        Assert.Equal([0x1111UL], ReadKeys(s));
    }

    [Fact]
    public void Beyond_the_registration_limit_is_insufficient_registration_resources()
    {
        var s = new PersistentReservations(new PersistentReservationOptions { MaxRegistrations = 2 });
        AssertGood(s.Register(A, 1));
        AssertGood(s.Register(B, 2));
        AssertCheck(s.Register(C, 3), 0x05, 0x55, 0x04);
        Assert.Equal(2, s.RegistrationCount);
        // A SPEC_I_PT list that does not fit is refused whole.
        var t = new PersistentReservations(new PersistentReservationOptions { MaxRegistrations = 2 });
        var p = Keys(0, 9) with
        {
            SpecifyInitiatorPorts = true,
            TransportIds = [new IscsiTransportId(B.InitiatorName, null), new IscsiTransportId(C.InitiatorName, null)],
        };
        AssertCheck(t.Out(A, PrOutServiceAction.Register, PrType.None, p), 0x05, 0x55, 0x04);
        Assert.Equal(0, t.RegistrationCount);
    }

    [Fact]
    public void Initiator_names_match_without_regard_to_case()
    {
        var s = new PersistentReservations();
        AssertGood(s.Register(A, 0x1111));
        var shouted = Nexus(A.InitiatorName.ToUpperInvariant(), A.Isid);
        AssertGood(s.Out(shouted, PrOutServiceAction.Register, PrType.None, Keys(0x1111, 0x2222)));
        Assert.Equal([0x2222UL], ReadKeys(s));
    }

    [Fact]
    public void The_aptpl_bit_of_the_last_register_is_the_one_in_force()
    {
        var s = new PersistentReservations();
        var first = s.Register(A, 0x1111, aptpl: true);
        Assert.True(s.PersistThroughPowerLoss);
        Assert.True(first.PersistentStateChanged);
        var second = s.Register(B, 0x2222, aptpl: false);
        Assert.False(s.PersistThroughPowerLoss);
        Assert.True(second.PersistentStateChanged); // the file must go
        var third = s.Register(C, 0x3333, aptpl: false);
        Assert.False(third.PersistentStateChanged); // nothing was, or is, kept
    }
}
