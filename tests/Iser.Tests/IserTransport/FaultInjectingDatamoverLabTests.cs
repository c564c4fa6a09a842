using Iser.Tests.Transport.FaultInjection;
using Iser.Tests.Verbs;

namespace Iser.Tests.IserTransport;

/// <summary>
/// The recovery suite (<see cref="RecoveryScenarios"/>) over iSER in the soft-RoCE lab: the same scenarios the host runs
/// over TCP and in memory. iSER carries no digests and moves data by RDMA, so the faults sit on the PDUs iSER still
/// sends (SCSI Responses) and on the connection itself.
/// </summary>
[Trait("Category", "Lab")]
[Collection("iSER lab")] // IserConnectionCounters are process-wide
public sealed class FaultInjectingDatamoverLabTests
{
    [LabFact]
    public Task Over_iser_a_lost_scsi_response_is_asked_for_again_and_the_write_ran_once() =>
        RecoveryScenarios.LostResponseIsAskedForAgain(RecoveryScenarios.Iser);

    [LabFact]
    public Task Over_iser_a_scsi_response_delivered_after_the_next_one_is_taken_in_order() =>
        RecoveryScenarios.ReorderedResponseIsTakenInOrder(RecoveryScenarios.Iser);

    [LabFact]
    public Task Over_iser_at_level_0_a_connection_killed_at_a_response_logs_in_again_and_reissues() =>
        RecoveryScenarios.KilledAtLevel0LogsInAgainAndReissues(RecoveryScenarios.Iser);

    [LabFact]
    public Task Over_iser_level_2_asked_gives_1_and_a_connection_killed_under_mixed_load_logs_the_session_in_again_with_the_data_intact() =>
        RecoveryScenarios.KilledAtLevel2UnderMixedLoad(RecoveryScenarios.Iser, connections: 1);

    [LabFact]
    public Task Over_iser_with_four_connections_level_2_asked_gives_1_and_one_killed_logs_the_session_in_again_with_the_data_intact() =>
        RecoveryScenarios.KilledAtLevel2UnderMixedLoad(RecoveryScenarios.Iser, connections: 4);
}
