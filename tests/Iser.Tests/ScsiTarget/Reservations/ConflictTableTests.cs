using Iser.Core.Scsi.Target.Reservations;
using static Iser.Tests.ScsiTarget.Reservations.PrTestKit;

namespace Iser.Tests.ScsiTarget.Reservations;

/// <summary>
/// The SPC-4 and SBC-3 tables of "commands that are allowed in the presence of various reservations", and
/// SPC-2 §5.5.1 for RESERVE(6), through <see cref="PersistentReservations.CheckAccess"/>.
/// </summary>
public class ConflictTableTests
{
    private static readonly PrType[] Types =
    [
        PrType.WriteExclusive, PrType.ExclusiveAccess,
        PrType.WriteExclusiveRegistrantsOnly, PrType.ExclusiveAccessRegistrantsOnly,
        PrType.WriteExclusiveAllRegistrants, PrType.ExclusiveAccessAllRegistrants,
    ];

    /// <summary>
    /// The table as the standard states it. Per type (WE, EA, WE-RO, EA-RO, WE-AR, EA-AR) three letters: from the
    /// holder, from a registered nexus that does not hold the reservation, from an unregistered nexus.
    /// Under the all-registrants types a registered nexus is a holder.
    /// </summary>
    private static readonly Dictionary<ScsiCommandClass, string> Spc4Table = new()
    {
        [ScsiCommandClass.Read] = "AAA ACC AAA AAC AAA AAC",
        [ScsiCommandClass.Write] = "ACC ACC AAC AAC AAC AAC",
        [ScsiCommandClass.Unrestricted] = "AAA AAA AAA AAA AAA AAA",
        [ScsiCommandClass.UnrestrictedByPersistentReservations] = "AAA AAA AAA AAA AAA AAA",
        [ScsiCommandClass.PersistentReserveIn] = "AAA AAA AAA AAA AAA AAA",
        // PERSISTENT RESERVE OUT and RESERVE/RELEASE pass this gate; their own rules decide (tested elsewhere).
        [ScsiCommandClass.PersistentReserveOut] = "AAA AAA AAA AAA AAA AAA",
        [ScsiCommandClass.LegacyReservation] = "AAA AAA AAA AAA AAA AAA",
    };

    public static TheoryData<PrType, int, ScsiCommandClass, PrAccess> PersistentCases()
    {
        var data = new TheoryData<PrType, int, ScsiCommandClass, PrAccess>();
        foreach (var (command, row) in Spc4Table)
        {
            var cells = row.Split(' ');
            for (int t = 0; t < Types.Length; t++)
                for (int relation = 0; relation < 3; relation++)
                    data.Add(Types[t], relation, command, cells[t][relation] == 'A' ? PrAccess.Allowed : PrAccess.Conflict);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(PersistentCases))]
    public void Persistent_reservation_admits_what_spc4_table_46_admits(PrType type, int relation, ScsiCommandClass command, PrAccess expected)
    {
        // A holds the reservation, B is registered, C is not.
        var s = Reserved(type, A, (A, 0xA1), (B, 0xB2));
        var nexus = relation switch { 0 => A, 1 => B, _ => C };
        Assert.Equal(expected, s.CheckAccess(nexus, command));
    }

    [Theory]
    [InlineData(ScsiCommandClass.Read)]
    [InlineData(ScsiCommandClass.Write)]
    public void Registrations_without_a_reservation_restrict_nothing(ScsiCommandClass command)
    {
        var s = new PersistentReservations();
        AssertGood(s.Register(A, 0xA1));
        Assert.Equal(PrAccess.Allowed, s.CheckAccess(B, command));
    }

    [Fact]
    public void The_holder_registered_with_all_target_ports_holds_through_every_target_port()
    {
        var s = new PersistentReservations();
        AssertGood(s.Register(A, 0xA1, allTargetPorts: true));
        AssertGood(s.Reserve(A, 0xA1, PrType.ExclusiveAccess));
        Assert.Equal(PrAccess.Allowed, s.CheckAccess(A2, ScsiCommandClass.Write));
        // Another port of the same initiator (another ISID) is another nexus, not covered.
        Assert.Equal(PrAccess.Conflict, s.CheckAccess(Nexus(A.InitiatorName, 0x99), ScsiCommandClass.Write));
    }

    [Fact]
    public void A_registration_through_one_target_port_does_not_hold_through_another()
    {
        var s = new PersistentReservations();
        AssertGood(s.Register(A, 0xA1));
        AssertGood(s.Reserve(A, 0xA1, PrType.ExclusiveAccess));
        Assert.Equal(PrAccess.Conflict, s.CheckAccess(A2, ScsiCommandClass.Read));
    }

    /// <summary>SPC-2 §5.5.1 / §7.21 with another nexus's RESERVE(6): H = from the holder, O = from another nexus.</summary>
    [Theory]
    [InlineData(ScsiCommandClass.Read, PrAccess.Allowed, PrAccess.Conflict)]
    [InlineData(ScsiCommandClass.Write, PrAccess.Allowed, PrAccess.Conflict)]
    [InlineData(ScsiCommandClass.Unrestricted, PrAccess.Allowed, PrAccess.Allowed)]
    [InlineData(ScsiCommandClass.UnrestrictedByPersistentReservations, PrAccess.Allowed, PrAccess.Conflict)] // TEST UNIT READY
    [InlineData(ScsiCommandClass.PersistentReserveIn, PrAccess.Conflict, PrAccess.Conflict)]
    [InlineData(ScsiCommandClass.PersistentReserveOut, PrAccess.Conflict, PrAccess.Conflict)]
    [InlineData(ScsiCommandClass.LegacyReservation, PrAccess.Allowed, PrAccess.Allowed)]
    public void Reserve6_admits_what_spc2_admits(ScsiCommandClass command, PrAccess fromHolder, PrAccess fromOther)
    {
        var s = new PersistentReservations();
        AssertGood(s.LegacyReserve(A));
        Assert.Equal(fromHolder, s.CheckAccess(A, command));
        Assert.Equal(fromOther, s.CheckAccess(B, command));
        // The same initiator through another target port is another nexus.
        Assert.Equal(fromOther, s.CheckAccess(A2, command));
    }

    [Fact]
    public void Nothing_conflicts_once_the_reservation_is_released()
    {
        var s = Reserved(PrType.ExclusiveAccess, A, (A, 0xA1));
        Assert.Equal(PrAccess.Conflict, s.CheckAccess(B, ScsiCommandClass.Read));
        AssertGood(s.Release(A, 0xA1, PrType.ExclusiveAccess));
        Assert.Equal(PrAccess.Allowed, s.CheckAccess(B, ScsiCommandClass.Write));
    }

    /// <summary>SPC-4's table of PERSISTENT RESERVE OUT service actions allowed in the presence of a reservation held by another nexus.</summary>
    [Theory]
    [InlineData(PrOutServiceAction.Register, true, true)]
    [InlineData(PrOutServiceAction.RegisterAndIgnoreExistingKey, true, true)]
    [InlineData(PrOutServiceAction.Reserve, false, false)]
    [InlineData(PrOutServiceAction.Release, true, false)]
    [InlineData(PrOutServiceAction.Clear, true, false)]
    [InlineData(PrOutServiceAction.Preempt, true, false)]
    [InlineData(PrOutServiceAction.PreemptAndAbort, true, false)]
    [InlineData(PrOutServiceAction.RegisterAndMove, false, false)]
    public void Persistent_reserve_out_from_non_holders_follows_spc4_table_47(PrOutServiceAction action, bool registeredAllowed, bool unregisteredAllowed)
    {
        foreach (var type in new[] { PrType.WriteExclusive, PrType.ExclusiveAccessRegistrantsOnly })
        {
            var registered = Reserved(type, A, (A, 0xA1), (B, 0xB2));
            var p = ParametersFor(action, key: 0xB2);
            Assert.Equal(registeredAllowed, registered.Out(B, action, type, p).IsGood);

            var unregistered = Reserved(type, A, (A, 0xA1));
            var q = ParametersFor(action, key: 0);
            Assert.Equal(unregisteredAllowed, unregistered.Out(B, action, type, q).IsGood);
        }
    }

    /// <summary>Parameters that would succeed if the nexus were allowed: preempting A, moving to C, registering key 0xBB.</summary>
    private static PrOutParameters ParametersFor(PrOutServiceAction action, ulong key) => action switch
    {
        PrOutServiceAction.Register or PrOutServiceAction.RegisterAndIgnoreExistingKey => Keys(key, 0xBB),
        PrOutServiceAction.Preempt or PrOutServiceAction.PreemptAndAbort => Keys(key, 0xA1),
        PrOutServiceAction.RegisterAndMove => Keys(key, 0xCC) with
        {
            RelativeTargetPortId = 1,
            TransportIds = [new IscsiTransportId(C.InitiatorName, C.Isid)],
        },
        _ => Keys(key),
    };
}
