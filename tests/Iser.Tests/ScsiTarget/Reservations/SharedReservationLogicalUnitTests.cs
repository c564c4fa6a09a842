using System.Buffers.Binary;
using Iser.Core.Scsi;
using Iser.Core.Scsi.Target;
using Iser.Core.Scsi.Target.Reservations;
using static Iser.Tests.ScsiTarget.LuHarness;

namespace Iser.Tests.ScsiTarget.Reservations;

/// <summary>
/// Two logical units (two gateways) over one shared reservation state (<see cref="SharedReservationBoard"/>): what one
/// registers and reserves the other enforces, a compare-and-swap lost to the other gateway is applied again on the
/// newer state, and a restarted gateway starts from the stored state.
/// </summary>
public sealed class SharedReservationLogicalUnitTests
{
    private const string Target = "iqn.2026-12.test:gateways";
    private const string Host1 = "iqn.2026-12.test:host-1";
    private const string Host2 = "iqn.2026-12.test:host-2";
    // Gateway A is portal group (and relative target port) 1, gateway B portal group 2.
    private static readonly ItNexus Host1ThroughA = new(Host1, 0x23D000000001, Target, 1, 1);
    private static readonly ItNexus Host1ThroughB = new(Host1, 0x23D000000001, Target, 2, 2);
    private static readonly ItNexus Host2ThroughB = new(Host2, 0x23D000000002, Target, 2, 2);
    private static readonly ItNexus Host2ThroughA = new(Host2, 0x23D000000002, Target, 1, 1);
    private const ulong Key1 = 0x1111_0000_0000_0001;
    private const ulong Key2 = 0x2222_0000_0000_0002;
    private const byte WriteExclusive = 1;
    private const byte ExclusiveAccess = 3;

    private static BlockDeviceLogicalUnit Gateway(SharedReservationBoard board, out FakeSharedReservationStore store)
    {
        store = board.OpenStore();
        return new BlockDeviceLogicalUnit(store, new BlockDeviceOptions { BlockSize = 512, Identity = "shared-lu" });
    }

    private static BlockDeviceLogicalUnit Gateway(SharedReservationBoard board) => Gateway(board, out _);

    private static async Task<ScsiCommandResult> Run(ILogicalUnit lu, ItNexus nexus, byte[] cdb, byte[]? dataOut = null) =>
        await lu.ExecuteAsync(new FakeScsiTask(cdb, dataOut: dataOut, nexus: nexus), CancellationToken.None);

    private static byte[] PrOutCdb(byte serviceAction, byte type = 0) => [0x5F, serviceAction, type, 0, 0, 0, 0, 0, 24, 0];

    private static byte[] PrOutList(ulong key, ulong serviceActionKey, bool allTargetPorts = false)
    {
        var list = new byte[24];
        BinaryPrimitives.WriteUInt64BigEndian(list, key);
        BinaryPrimitives.WriteUInt64BigEndian(list.AsSpan(8), serviceActionKey);
        if (allTargetPorts) list[20] = 0x04;
        return list;
    }

    private static Task<ScsiCommandResult> Register(ILogicalUnit lu, ItNexus nexus, ulong key, bool allTargetPorts = false) =>
        Run(lu, nexus, PrOutCdb(0x00), PrOutList(0, key, allTargetPorts));

    private static Task<ScsiCommandResult> Reserve(ILogicalUnit lu, ItNexus nexus, ulong key, byte type) =>
        Run(lu, nexus, PrOutCdb(0x01, type), PrOutList(key, 0));

    private static Task<ScsiCommandResult> Preempt(ILogicalUnit lu, ItNexus nexus, ulong key, ulong victim, byte type) =>
        Run(lu, nexus, PrOutCdb(0x04, type), PrOutList(key, victim));

    private static Task<ScsiCommandResult> Write(ILogicalUnit lu, ItNexus nexus) =>
        Run(lu, nexus, Cdbs.Write16(0, 1), Pattern(512, 7));

    private static async Task<ScsiCommandResult> Read(ILogicalUnit lu, ItNexus nexus) =>
        await lu.ExecuteAsync(new FakeScsiTask(Cdbs.Read16(0, 1), expectedDataIn: 512, nexus: nexus), CancellationToken.None);

    /// <summary>READ KEYS (PRgeneration and the keys) or READ RESERVATION through <paramref name="nexus"/>.</summary>
    private static async Task<(uint Generation, ulong[] Keys)> PrIn(ILogicalUnit lu, ItNexus nexus, byte serviceAction)
    {
        var task = new FakeScsiTask([0x5E, serviceAction, 0, 0, 0, 0, 0, 4, 0, 0], expectedDataIn: 1024, nexus: nexus);
        var result = await lu.ExecuteAsync(task, CancellationToken.None);
        AssertGood(result);
        var data = task.SentData(result);
        int length = (int)BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(4));
        var keys = new List<ulong>();
        for (int at = 8; at < 8 + length; at += serviceAction == 0 ? 8 : 16) keys.Add(BinaryPrimitives.ReadUInt64BigEndian(data.AsSpan(at)));
        return (BinaryPrimitives.ReadUInt32BigEndian(data), keys.ToArray());
    }

    private static void AssertConflict(ScsiCommandResult result) => Assert.Equal(ScsiStatus.ReservationConflict, result.Status);

    [Fact]
    public async Task What_one_gateway_registers_and_reserves_the_other_enforces_and_reports()
    {
        var board = new SharedReservationBoard();
        await using var a = Gateway(board);
        await using var b = Gateway(board);
        Assert.True(a.SharesReservations && b.SharesReservations);

        AssertGood(await Register(a, Host1ThroughA, Key1));
        AssertGood(await Reserve(a, Host1ThroughA, Key1, WriteExclusive));

        AssertConflict(await Write(b, Host2ThroughB));
        AssertGood(await Read(b, Host2ThroughB));
        // The registration is of port 1 only: the same initiator port through gateway B is not registered.
        AssertConflict(await Write(b, Host1ThroughB));
        AssertGood(await Write(a, Host1ThroughA));

        var keys = await PrIn(b, Host2ThroughB, 0x00);
        Assert.Equal(1u, keys.Generation);
        Assert.Equal([Key1], keys.Keys);
        var reservation = await PrIn(b, Host2ThroughB, 0x01);
        Assert.Equal([Key1], reservation.Keys);
        Assert.Equal(PrType.WriteExclusive, b.Reservations.ReservationType);
        Assert.Equal(2, board.Replacements); // REGISTER and RESERVE each stored once
    }

    [Fact]
    public async Task A_registration_of_all_target_ports_lets_the_holder_write_through_either_gateway()
    {
        var board = new SharedReservationBoard();
        await using var a = Gateway(board);
        await using var b = Gateway(board);
        AssertGood(await Register(a, Host1ThroughA, Key1, allTargetPorts: true));
        AssertGood(await Reserve(a, Host1ThroughA, Key1, ExclusiveAccess));

        AssertGood(await Write(b, Host1ThroughB));
        AssertGood(await Read(b, Host1ThroughB));
        AssertConflict(await Read(b, Host2ThroughB));
        AssertConflict(await Write(a, Host2ThroughA));
    }

    [Fact]
    public async Task The_state_outlives_a_gateway_and_a_restarted_gateway_starts_from_it()
    {
        var board = new SharedReservationBoard();
        var b = Gateway(board);
        await using (var a = Gateway(board))
        {
            AssertGood(await Register(a, Host1ThroughA, Key1, allTargetPorts: true));
            AssertGood(await Reserve(a, Host1ThroughA, Key1, WriteExclusive));
        }
        // Gateway A is gone: B enforces the same state, and a new gateway (A restarted) reads it at start.
        AssertConflict(await Write(b, Host2ThroughB));
        AssertGood(await Write(b, Host1ThroughB));
        await using var restarted = Gateway(board);
        AssertConflict(await Write(restarted, Host2ThroughA));
        var keys = await PrIn(restarted, Host2ThroughA, 0x00);
        Assert.Equal(1u, keys.Generation);
        Assert.Equal([Key1], keys.Keys);
        await b.DisposeAsync();
    }

    [Fact]
    public async Task A_command_that_lost_the_race_to_the_other_gateway_is_applied_again_on_the_newer_state()
    {
        var board = new SharedReservationBoard();
        await using var a = Gateway(board, out var storeA);
        await using var b = Gateway(board);
        // Between A reading the state and A storing its REGISTER, host 2 registers through B.
        storeA.BeforeNextReplace = async () => AssertGood(await Register(b, Host2ThroughB, Key2));

        AssertGood(await Register(a, Host1ThroughA, Key1));

        Assert.Equal(1, board.Conflicts);
        foreach (var (lu, nexus) in new[] { (a, Host1ThroughA), (b, Host2ThroughB) })
        {
            var keys = await PrIn(lu, nexus, 0x00);
            Assert.Equal(2u, keys.Generation);
            Assert.Equal([Key2, Key1], keys.Keys);
        }
    }

    [Fact]
    public async Task A_preempt_through_the_surviving_gateway_takes_the_reservation_from_the_other()
    {
        var board = new SharedReservationBoard();
        await using var a = Gateway(board);
        await using var b = Gateway(board);
        AssertGood(await Register(a, Host1ThroughA, Key1));
        AssertGood(await Reserve(a, Host1ThroughA, Key1, WriteExclusive));
        AssertGood(await Register(b, Host2ThroughB, Key2));
        AssertConflict(await Write(b, Host2ThroughB));

        AssertGood(await Preempt(b, Host2ThroughB, Key2, Key1, WriteExclusive));

        AssertGood(await Write(b, Host2ThroughB));
        // Gateway A establishes what B's PREEMPT established for host 1's nexus there: REGISTRATIONS PREEMPTED (SPC-4 §5.13.11.2.4).
        AssertSense(await Write(a, Host1ThroughA), 0x06, 0x2A, 0x05);
        AssertConflict(await Write(a, Host1ThroughA)); // host 1's registration is gone, on gateway A too
        var left = await PrIn(a, Host1ThroughA, 0x00);
        Assert.Equal([Key2], left.Keys);
    }

    [Fact]
    public async Task A_command_that_changes_nothing_stores_nothing()
    {
        var board = new SharedReservationBoard();
        await using var a = Gateway(board);
        AssertConflict(await Reserve(a, Host1ThroughA, Key1, WriteExclusive)); // not registered
        Assert.Equal(0, board.Replacements);
        AssertGood(await Register(a, Host1ThroughA, Key1));
        AssertGood(await Reserve(a, Host1ThroughA, Key1, WriteExclusive));
        AssertGood(await Reserve(a, Host1ThroughA, Key1, WriteExclusive));     // the holder again: GOOD, no change
        AssertGood(await Register(a, Host2ThroughA, Key2));
        AssertConflict(await Reserve(a, Host2ThroughA, Key2, ExclusiveAccess)); // reserved by host 1 already
        Assert.Equal(3, board.Replacements);                                   // REGISTER, RESERVE, REGISTER
        Assert.Equal(3ul, board.Version);
    }

    [Fact]
    public async Task A_store_told_not_to_share_keeps_reservations_per_unit()
    {
        var board = new SharedReservationBoard();
        await using var a = new BlockDeviceLogicalUnit(new FakeSharedReservationStore(board, 16 << 20) { SharesReservations = false },
            new BlockDeviceOptions { BlockSize = 512 });
        await using var b = new BlockDeviceLogicalUnit(new FakeSharedReservationStore(board, 16 << 20) { SharesReservations = false },
            new BlockDeviceOptions { BlockSize = 512 });
        Assert.False(a.SharesReservations);
        AssertGood(await Register(a, Host1ThroughA, Key1));
        AssertGood(await Reserve(a, Host1ThroughA, Key1, WriteExclusive));
        AssertGood(await Write(b, Host2ThroughB));
        Assert.Equal(0, board.Replacements);
    }

    [Fact]
    public async Task Preempt_and_abort_through_one_gateway_aborts_the_preempted_nexus_tasks_on_the_other()
    {
        var board = new SharedReservationBoard();
        await using var a = Gateway(board);
        await using var b = Gateway(board);
        var hostB = new FakeUnitHost(2);
        b.AttachHost(hostB);
        AssertGood(await Register(b, Host1ThroughB, Key1));
        AssertGood(await Reserve(b, Host1ThroughB, Key1, WriteExclusive));
        AssertGood(await Register(a, Host2ThroughA, Key2));
        var host1Task = hostB.StartTask(Host1ThroughB);   // host 1's command in progress on gateway B
        var host2Task = hostB.StartTask(Host2ThroughB);   // another initiator's, not preempted

        AssertGood(await Run(a, Host2ThroughA, PrOutCdb(0x05, WriteExclusive), PrOutList(Key2, Key1))); // PREEMPT AND ABORT

        // Before A's command completed, B aborted host 1's task, and only that one.
        Assert.True(host1Task.IsCanceled);
        Assert.False(host2Task.IsCompleted);
        AssertSense(await Write(b, Host1ThroughB), 0x06, 0x2A, 0x05); // REGISTRATIONS PREEMPTED
        AssertConflict(await Write(b, Host1ThroughB));
        AssertGood(await Write(a, Host2ThroughA));
    }

    [Fact]
    public async Task A_release_through_one_gateway_tells_the_registrants_on_the_other()
    {
        var board = new SharedReservationBoard();
        await using var a = Gateway(board);
        await using var b = Gateway(board);
        AssertGood(await Register(a, Host1ThroughA, Key1));
        AssertGood(await Reserve(a, Host1ThroughA, Key1, 5)); // Write Exclusive, Registrants Only
        AssertGood(await Register(b, Host2ThroughB, Key2));
        AssertGood(await Write(b, Host2ThroughB));

        AssertGood(await Run(a, Host1ThroughA, PrOutCdb(0x02, 5), PrOutList(Key1, 0))); // RELEASE

        AssertSense(await Write(b, Host2ThroughB), 0x06, 0x2A, 0x04); // RESERVATIONS RELEASED
        AssertGood(await Write(b, Host2ThroughB));
        AssertGood(await Write(a, Host1ThroughA)); // the issuer is never told
    }

    [Fact]
    public async Task A_reserve6_through_one_gateway_conflicts_through_the_other_until_released()
    {
        var board = new SharedReservationBoard();
        await using var a = Gateway(board);
        await using var b = Gateway(board);
        byte[] reserve6 = [0x16, 0, 0, 0, 0, 0], release6 = [0x17, 0, 0, 0, 0, 0];

        AssertGood(await Run(a, Host1ThroughA, reserve6));
        AssertConflict(await Write(b, Host2ThroughB));
        AssertConflict(await Write(b, Host1ThroughB)); // the same initiator through another port is another nexus
        AssertConflict(await Run(b, Host2ThroughB, reserve6));
        AssertConflict(await Register(b, Host2ThroughB, Key2)); // SPC-2 §5.5.1: PR OUT conflicts under RESERVE
        AssertGood(await Write(a, Host1ThroughA));

        AssertGood(await Run(a, Host1ThroughA, release6));
        AssertGood(await Write(b, Host2ThroughB));
        AssertGood(await Run(b, Host2ThroughB, reserve6));
        AssertConflict(await Write(a, Host1ThroughA));
    }

    [Fact]
    public async Task A_reserve6_holder_lost_on_its_gateway_frees_the_unit_on_the_other()
    {
        var board = new SharedReservationBoard();
        await using var a = Gateway(board);
        await using var b = Gateway(board);
        AssertGood(await Run(a, Host1ThroughA, [0x16, 0, 0, 0, 0, 0]));
        AssertConflict(await Write(b, Host2ThroughB));

        a.OnNexusLoss(Host1ThroughA); // the holder's session ended on gateway A

        await Until(async () => (await Write(b, Host2ThroughB)).Status == ScsiStatus.Good);
    }

    [Fact]
    public async Task An_announcement_reads_back_what_was_encoded()
    {
        var pattern = new ItNexusPattern(Host1, null, 2);
        var outcome = PrOutcome.Succeeded([new PrUnitAttention(pattern, Host2ThroughA, new SenseCondition(0x06, 0x2A, 0x05))], [ItNexusPattern.Of(Host1ThroughB)]);
        var (uas, aborts) = PrAnnouncement.Decode(PrAnnouncement.Encode(outcome));
        Assert.Equal(outcome.UnitAttentions, uas);
        Assert.Equal(outcome.AbortTasksOf, aborts);
        Assert.Empty(PrAnnouncement.Encode(PrOutcome.Good));
        Assert.Throws<InvalidDataException>(() => PrAnnouncement.Decode(PrAnnouncement.Encode(outcome).AsSpan(0, 9)));
        await Task.CompletedTask;
    }

    private static async Task Until(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the condition did not hold within 5 s");
            await Task.Delay(20);
        }
    }
}
