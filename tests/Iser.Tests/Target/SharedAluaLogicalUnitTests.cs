using System.Buffers.Binary;
using Iser.Core.Scsi;
using Iser.Core.Scsi.Target;
using Iser.Core.Scsi.Target.Alua;
using Iser.Core.Scsi.Target.Reservations;
using Iser.Tests.ScsiTarget;
using Iser.Tests.ScsiTarget.Reservations;
using static Iser.Tests.ScsiTarget.LuHarness;

namespace Iser.Tests.Target;

/// <summary>
/// ALUA across two gateways of one medium: two logical units over one fake shared store (<see cref="SharedReservationBoard"/>),
/// each in its own "target" (<see cref="FakeUnitHost"/>, portal group 1 for A, 2 for B). REPORT TARGET PORT GROUPS
/// through either lists both groups with their states; a change on one is ASYMMETRIC ACCESS STATE CHANGED on the other;
/// a gateway gone is reported unavailable; alua=auto takes over.
/// </summary>
public sealed class SharedAluaLogicalUnitTests
{
    private const string Target = "iqn.2026-12.test:gateways";
    private static readonly ItNexus HostThroughA = new("iqn.2026-12.test:host-1", 0x23D000000001, Target, 1, 1);
    private static readonly ItNexus HostThroughB = new("iqn.2026-12.test:host-1", 0x23D000000002, Target, 2, 2);
    private static readonly ItNexus OtherHostThroughA = new("iqn.2026-12.test:host-2", 0x23D000000003, Target, 1, 1);

    private sealed record Gateway(BlockDeviceLogicalUnit Lu, FakeUnitHost Host, FakeSharedReservationStore Store) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => Lu.DisposeAsync();
    }

    private static Gateway Open(SharedReservationBoard board, ushort group, bool auto = false)
    {
        var store = board.OpenStore(auto);
        var lu = new BlockDeviceLogicalUnit(store, new BlockDeviceOptions { BlockSize = 512, Identity = "shared-alua" });
        var host = new FakeUnitHost(group);
        lu.AttachHost(host);
        return new Gateway(lu, host, store);
    }

    private static async Task<ScsiCommandResult> Run(Gateway g, ItNexus nexus, byte[] cdb, byte[]? dataOut = null, int dataIn = 0) =>
        await g.Lu.ExecuteAsync(new FakeScsiTask(cdb, expectedDataIn: dataIn, dataOut: dataOut, nexus: nexus) { AccessStates = g.Host.AccessStates }, CancellationToken.None);

    /// <summary>REPORT TARGET PORT GROUPS through <paramref name="nexus"/>: per descriptor the group, its state, status code and one target port.</summary>
    private static async Task<List<(ushort Group, AluaState State, byte Status, ushort Port)>> Rtpg(Gateway g, ItNexus nexus)
    {
        var task = new FakeScsiTask([0xA3, 0x0A, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0], expectedDataIn: 1024, nexus: nexus) { AccessStates = g.Host.AccessStates };
        var result = await g.Lu.ExecuteAsync(task, CancellationToken.None);
        AssertGood(result);
        var d = task.SentData(result);
        int length = (int)BinaryPrimitives.ReadUInt32BigEndian(d);
        Assert.Equal(d.Length - 4, length);
        var groups = new List<(ushort, AluaState, byte, ushort)>();
        for (int p = 4; p < d.Length; p += 12)
        {
            Assert.Equal(1, d[p + 7]); // one target port per group
            groups.Add((BinaryPrimitives.ReadUInt16BigEndian(d.AsSpan(p + 2)), (AluaState)(d[p] & 0x0F), d[p + 5],
                BinaryPrimitives.ReadUInt16BigEndian(d.AsSpan(p + 10))));
        }
        return groups;
    }

    private static Task<ScsiCommandResult> Stpg(Gateway g, ItNexus nexus, ushort group, AluaState state)
    {
        var list = new byte[8];
        list[4] = (byte)state;
        BinaryPrimitives.WriteUInt16BigEndian(list.AsSpan(6), group);
        return Run(g, nexus, [0xA4, 0x0A, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0], list);
    }

    private static Task<ScsiCommandResult> TestUnitReady(Gateway g, ItNexus nexus) => Run(g, nexus, [0, 0, 0, 0, 0, 0]);

    [Fact]
    public async Task Each_gateway_reports_both_groups_with_their_states_and_ports()
    {
        var board = new SharedReservationBoard();
        await using var a = Open(board, 1);
        await using var b = Open(board, 2);
        b.Host.AccessStates.SetState(2, AluaState.ActiveNonOptimized); // as --alua 2=active-non-optimized at start
        Assert.True(a.Lu.SharesAccessStates);

        Assert.Equal([(1, AluaState.ActiveOptimized, TargetPortGroup.NoStatus, 1), (2, AluaState.ActiveNonOptimized, TargetPortGroup.AlteredImplicitly, 2)],
            await Rtpg(b, HostThroughB));
        Assert.Equal([(1, AluaState.ActiveOptimized, TargetPortGroup.NoStatus, 1), (2, AluaState.ActiveNonOptimized, TargetPortGroup.AlteredImplicitly, 2)],
            await Rtpg(a, HostThroughA));
    }

    [Fact]
    public async Task Set_target_port_groups_through_one_gateway_shows_on_the_other_with_a_unit_attention()
    {
        var board = new SharedReservationBoard();
        await using var a = Open(board, 1);
        await using var b = Open(board, 2);
        b.Host.AccessStates.SetState(2, AluaState.ActiveNonOptimized);
        AssertGood(await TestUnitReady(b, HostThroughB)); // the nexus is known on B, nothing pending
        AssertGood(await TestUnitReady(a, OtherHostThroughA));

        // The host makes B's group active/optimized through B, and A's standby through A.
        AssertGood(await Stpg(b, HostThroughB, 2, AluaState.ActiveOptimized));
        AssertGood(await Stpg(a, HostThroughA, 1, AluaState.Standby));

        // B's nexus learns of A's change (the one on B was its own command: no UA from that).
        AssertSense(await TestUnitReady(b, HostThroughB), 0x06, 0x2A, 0x06);
        AssertGood(await TestUnitReady(b, HostThroughB));
        // A's other nexus learns of B's change (A's own change is the target's to announce, and here there is no target).
        AssertSense(await TestUnitReady(a, OtherHostThroughA), 0x06, 0x2A, 0x06);
        Assert.Equal([(1, AluaState.Standby, TargetPortGroup.AlteredBySetTargetPortGroups, 1), (2, AluaState.ActiveOptimized, TargetPortGroup.AlteredBySetTargetPortGroups, 2)],
            await Rtpg(b, HostThroughB));
        Assert.Equal(await Rtpg(b, HostThroughB), await Rtpg(a, HostThroughA));
    }

    [Fact]
    public async Task A_group_of_another_gateway_cannot_be_set_through_this_one()
    {
        var board = new SharedReservationBoard();
        await using var a = Open(board, 1);
        await using var b = Open(board, 2);
        int before = board.Publications;
        var refused = await Stpg(b, HostThroughB, 1, AluaState.Standby);
        AssertSense(refused, 0x05, 0x26, 0x00); // INVALID FIELD IN PARAMETER LIST
        Assert.Equal(before, board.Publications);
        Assert.Equal(AluaState.ActiveOptimized, (await Rtpg(a, HostThroughA))[0].State);
    }

    [Fact]
    public async Task A_gateway_gone_is_reported_unavailable_through_the_other_with_a_unit_attention()
    {
        var board = new SharedReservationBoard();
        var a = Open(board, 1);
        await using var b = Open(board, 2);
        b.Host.AccessStates.SetState(2, AluaState.ActiveNonOptimized);
        AssertGood(await TestUnitReady(b, HostThroughB));

        board.MarkGone(a.Store); // stopped, or its watch lost
        await a.DisposeAsync();

        AssertSense(await TestUnitReady(b, HostThroughB), 0x06, 0x2A, 0x06);
        Assert.Equal([(1, AluaState.Unavailable, TargetPortGroup.AlteredImplicitly, 1), (2, AluaState.ActiveNonOptimized, TargetPortGroup.AlteredImplicitly, 2)],
            await Rtpg(b, HostThroughB));
        // B's own group is what it was: its I/O goes on.
        AssertGood(await Run(b, HostThroughB, Cdbs.Write16(0, 1), Pattern(512, 3)));

        // A comes back (a new process publishing group 1): active/optimized again, and B's nexus is told.
        await using var restarted = Open(board, 1);
        AssertSense(await TestUnitReady(b, HostThroughB), 0x06, 0x2A, 0x06);
        Assert.Equal(AluaState.ActiveOptimized, (await Rtpg(b, HostThroughB))[0].State);
    }

    [Fact]
    public async Task With_alua_auto_the_surviving_gateway_takes_over_as_active_optimized()
    {
        var board = new SharedReservationBoard();
        var a = Open(board, 1);
        await using var b = Open(board, 2, auto: true);
        b.Host.AccessStates.SetState(2, AluaState.ActiveNonOptimized);
        Assert.Equal(AluaState.ActiveNonOptimized, b.Host.AccessStates.StateOf(2));

        board.MarkGone(a.Store);
        await a.DisposeAsync();

        Assert.Equal(AluaState.ActiveOptimized, b.Host.AccessStates.StateOf(2));
        Assert.Equal([(1, AluaState.Unavailable, TargetPortGroup.AlteredImplicitly, 1), (2, AluaState.ActiveOptimized, TargetPortGroup.AlteredImplicitly, 2)],
            await Rtpg(b, HostThroughB));
    }

    [Fact]
    public async Task Without_alua_auto_a_gone_optimized_gateway_leaves_the_other_as_it_was()
    {
        var board = new SharedReservationBoard();
        var a = Open(board, 1);
        await using var b = Open(board, 2);
        b.Host.AccessStates.SetState(2, AluaState.ActiveNonOptimized);
        board.MarkGone(a.Store);
        await a.DisposeAsync();
        Assert.Equal(AluaState.ActiveNonOptimized, b.Host.AccessStates.StateOf(2));
    }

    [Fact]
    public async Task Register_and_move_through_one_gateway_may_name_the_other_gateways_port()
    {
        var board = new SharedReservationBoard();
        await using var a = Open(board, 1);
        await using var b = Open(board, 2);
        const ulong key1 = 0xA1, key2 = 0xB2;
        AssertGood(await Run(a, HostThroughA, PrOut(0x00, 0), PrList(0, key1)));  // REGISTER
        AssertGood(await Run(a, HostThroughA, PrOut(0x01, 1), PrList(key1, 0)));  // RESERVE, Write Exclusive
        var otherHostThroughB = new ItNexus("iqn.2026-12.test:host-2", 0x23D000000003, Target, 2, 2);
        Assert.Equal(ScsiStatus.ReservationConflict, (await Run(b, otherHostThroughB, Cdbs.Write16(0, 1), Pattern(512, 1))).Status);

        // REGISTER AND MOVE through A to host 2's port through B (relative target port 2, B's group).
        var transportId = new IscsiTransportId(otherHostThroughB.InitiatorName, otherHostThroughB.Isid);
        var list = new byte[24 + transportId.EncodedLength];
        BinaryPrimitives.WriteUInt64BigEndian(list, key1);
        BinaryPrimitives.WriteUInt64BigEndian(list.AsSpan(8), key2);
        BinaryPrimitives.WriteUInt16BigEndian(list.AsSpan(18), 2);
        BinaryPrimitives.WriteUInt32BigEndian(list.AsSpan(20), (uint)transportId.EncodedLength);
        transportId.WriteTo(list.AsSpan(24));
        byte[] cdb = [0x5F, 0x07, 1, 0, 0, 0, 0, 0, 0, 0];
        BinaryPrimitives.WriteUInt32BigEndian(cdb.AsSpan(5), (uint)list.Length);
        AssertGood(await Run(a, HostThroughA, cdb, list));

        AssertGood(await Run(b, otherHostThroughB, Cdbs.Write16(0, 1), Pattern(512, 2)));
        Assert.Equal(ScsiStatus.ReservationConflict, (await Run(a, HostThroughA, Cdbs.Write16(0, 1), Pattern(512, 3))).Status);

        // A port no gateway has is still refused (INVALID FIELD IN PARAMETER LIST).
        BinaryPrimitives.WriteUInt16BigEndian(list.AsSpan(18), 9);
        BinaryPrimitives.WriteUInt64BigEndian(list, key2);
        AssertSense(await Run(b, otherHostThroughB, cdb, list), 0x05, 0x26, 0x00);
    }

    private static byte[] PrOut(byte serviceAction, byte type) => [0x5F, serviceAction, type, 0, 0, 0, 0, 0, 24, 0];

    private static byte[] PrList(ulong key, ulong serviceActionKey)
    {
        var list = new byte[24];
        BinaryPrimitives.WriteUInt64BigEndian(list, key);
        BinaryPrimitives.WriteUInt64BigEndian(list.AsSpan(8), serviceActionKey);
        return list;
    }

}
