namespace Iser.Tests.Transport.FaultInjection;

/// <summary>
/// The recovery suite (<see cref="RecoveryScenarios"/>) over TCP and the in-memory transport (whose data moves as on
/// iSER); the same scenarios run over iSER in the lab (IserTransport/FaultInjectingDatamoverLabTests).
/// </summary>
public class FaultInjectingDatamoverTests
{
    public static TheoryData<string> Transports => new() { RecoveryScenarios.Tcp, RecoveryScenarios.Memory };

    [Theory]
    [MemberData(nameof(Transports))]
    public Task A_lost_scsi_response_is_asked_for_again_and_the_write_ran_once(string transport) =>
        RecoveryScenarios.LostResponseIsAskedForAgain(transport);

    [Theory]
    [MemberData(nameof(Transports))]
    public Task A_scsi_response_delivered_after_the_next_one_is_taken_in_order(string transport) =>
        RecoveryScenarios.ReorderedResponseIsTakenInOrder(transport);

    [Theory]
    [MemberData(nameof(Transports))]
    public Task At_level_0_a_connection_killed_at_a_response_logs_in_again_and_reissues(string transport) =>
        RecoveryScenarios.KilledAtLevel0LogsInAgainAndReissues(transport);

    [Theory]
    [MemberData(nameof(Transports))]
    public Task At_level_2_a_connection_killed_under_mixed_load_is_replaced_and_every_command_completes_once_or_over_direct_placement_the_session_logs_in_again(string transport) =>
        RecoveryScenarios.KilledAtLevel2UnderMixedLoad(transport, connections: 1);

    [Theory]
    [MemberData(nameof(Transports))]
    public Task At_level_2_with_four_connections_one_killed_hands_its_commands_to_the_others_or_over_direct_placement_the_session_logs_in_again(string transport) =>
        RecoveryScenarios.KilledAtLevel2UnderMixedLoad(transport, connections: 4);
}
