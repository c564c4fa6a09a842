using System.Buffers.Binary;
using Iser.Core.Scsi;
using Iser.Core.Scsi.Target;
using Iser.Core.Scsi.Target.Reservations;
using Iser.Storage.Rbd;
using Iser.Tests.ScsiTarget;
using static Iser.Tests.ScsiTarget.LuHarness;

namespace Iser.Tests.Rbd;

/// <summary>
/// The reservation state of an rbd image in its RADOS object beside the image (RadosSharedObject), through two
/// stores with two cluster connections, as two gateways have: compare-and-swap, the notification that refreshes the
/// other gateway before the command completes, and logical units over both enforcing one state.
/// </summary>
[Collection(CephCollection.Name)]
[Trait("Category", "Ceph")]
public sealed class RbdSharedReservationTests(CephCluster cluster)
{
    private const string Target = "iqn.2026-12.test:gateways";
    private static readonly ItNexus Host1ThroughA = new("iqn.2026-12.test:host-1", 0x23D000000001, Target, 1, 1);
    private static readonly ItNexus Host2ThroughB = new("iqn.2026-12.test:host-2", 0x23D000000002, Target, 2, 2);
    private const ulong Key1 = 0x1111_0000_0000_0001;

    private async Task<string> ImageSpecAsync(string prefix, string extra = "") =>
        $"rbd/{await cluster.CreateImageAsync(prefix, 16 << 20)}{cluster.SpecOptions}{extra}";

    [CephFact]
    public async Task A_replacement_from_a_stale_version_fails_and_the_other_store_hears_of_the_winning_one()
    {
        string spec = await ImageSpecAsync("pr-cas");
        await using var a = RbdBackingStore.Open(RbdImageSpec.Parse(spec));
        await using var b = RbdBackingStore.Open(RbdImageSpec.Parse(spec));
        Assert.True(a.SharesReservations);
        Assert.StartsWith("iser.pr.", a.ReservationObjectName);
        Assert.Equal(a.ReservationObjectName, b.ReservationObjectName);
        var heardByB = new List<ulong>();
        var announcedToB = new List<byte[]>();
        var announcedToA = new List<byte[]>();
        b.ReservationsChanged += s => { lock (heardByB) { heardByB.Add(s.Version); announcedToB.Add(s.Announcement.ToArray()); } };
        a.ReservationsChanged += s => { lock (heardByB) announcedToA.Add(s.Announcement.ToArray()); };

        var fresh = await a.ReadReservationsAsync();
        Assert.Equal(0ul, fresh.Version);
        Assert.True(fresh.Image.IsEmpty);

        ulong? first = await a.TryReplaceReservationsAsync(new byte[] { 1, 2, 3 }, 0, new byte[] { 0xA1, 0xA2 });
        Assert.Equal(1ul, first);
        // B was told before A's replacement returned, with A's announcement; A heard its own state without it.
        lock (heardByB)
        {
            Assert.Equal([1ul], heardByB);
            Assert.Equal(new byte[] { 0xA1, 0xA2 }, Assert.Single(announcedToB));
            Assert.Empty(Assert.Single(announcedToA));
        }
        Assert.Null(await b.TryReplaceReservationsAsync(new byte[] { 9 }, 0, default)); // stale: A replaced version 0 already
        var seen = await b.ReadReservationsAsync();
        Assert.Equal(1ul, seen.Version);
        Assert.Equal(new byte[] { 1, 2, 3 }, seen.Image.ToArray());
        Assert.Equal(2ul, await b.TryReplaceReservationsAsync(new byte[] { 4 }, 1, default));
        Assert.Equal(new byte[] { 4 }, (await a.ReadReservationsAsync()).Image.ToArray());
    }

    [CephFact]
    public async Task What_one_gateway_registers_and_reserves_the_other_enforces_and_a_restarted_one_reads()
    {
        string spec = await ImageSpecAsync("pr-lu");
        var options = new BlockDeviceOptions { BlockSize = 512, Identity = "shared" };
        var b = new BlockDeviceLogicalUnit(RbdBackingStore.Open(RbdImageSpec.Parse(spec)), options);
        try
        {
            await using (var a = new BlockDeviceLogicalUnit(RbdBackingStore.Open(RbdImageSpec.Parse(spec)), options))
            {
                AssertGood(await PrOut(a, Host1ThroughA, 0x00, 0, 0, Key1));
                AssertGood(await PrOut(a, Host1ThroughA, 0x01, 1, Key1, 0));
                // Gateway B enforces it as soon as A's commands completed: no waiting, no polling.
                Assert.Equal(ScsiStatus.ReservationConflict, (await Run(b, Host2ThroughB, Cdbs.Write16(0, 1), Pattern(512, 1))).Status);
                AssertGood(await Run(a, Host1ThroughA, Cdbs.Write16(0, 1), Pattern(512, 2)));
            }
            Assert.Equal(PrType.WriteExclusive, b.Reservations.ReservationType);
            Assert.Equal(ScsiStatus.ReservationConflict, (await Run(b, Host2ThroughB, Cdbs.Write16(0, 1), Pattern(512, 1))).Status);
            await using var restarted = new BlockDeviceLogicalUnit(RbdBackingStore.Open(RbdImageSpec.Parse(spec)), options);
            Assert.Equal(PrType.WriteExclusive, restarted.Reservations.ReservationType);
            Assert.Equal(1u, restarted.Reservations.Generation);
            Assert.Equal(ScsiStatus.ReservationConflict, (await Run(restarted, Host2ThroughB, Cdbs.Write16(0, 1), Pattern(512, 1))).Status);
        }
        finally { await b.DisposeAsync(); }
    }

    [CephFact]
    public async Task Pr_local_keeps_reservations_per_target()
    {
        string spec = await ImageSpecAsync("pr-local", ":pr=local");
        var options = new BlockDeviceOptions { BlockSize = 512 };
        await using var a = new BlockDeviceLogicalUnit(RbdBackingStore.Open(RbdImageSpec.Parse(spec)), options);
        await using var b = new BlockDeviceLogicalUnit(RbdBackingStore.Open(RbdImageSpec.Parse(spec)), options);
        Assert.False(a.SharesReservations);
        AssertGood(await PrOut(a, Host1ThroughA, 0x00, 0, 0, Key1));
        AssertGood(await PrOut(a, Host1ThroughA, 0x01, 1, Key1, 0));
        AssertGood(await Run(b, Host2ThroughB, Cdbs.Write16(0, 1), Pattern(512, 1)));
    }

    private static async Task<ScsiCommandResult> Run(ILogicalUnit lu, ItNexus nexus, byte[] cdb, byte[]? dataOut = null) =>
        await lu.ExecuteAsync(new FakeScsiTask(cdb, dataOut: dataOut, nexus: nexus), CancellationToken.None);

    /// <summary>PERSISTENT RESERVE OUT with the basic 24-byte parameter list.</summary>
    private static Task<ScsiCommandResult> PrOut(ILogicalUnit lu, ItNexus nexus, byte serviceAction, byte type, ulong key, ulong serviceActionKey)
    {
        var list = new byte[24];
        BinaryPrimitives.WriteUInt64BigEndian(list, key);
        BinaryPrimitives.WriteUInt64BigEndian(list.AsSpan(8), serviceActionKey);
        return Run(lu, nexus, [0x5F, serviceAction, type, 0, 0, 0, 0, 0, 24, 0], list);
    }
}
