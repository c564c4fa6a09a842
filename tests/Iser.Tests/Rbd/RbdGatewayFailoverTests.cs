using System.Buffers.Binary;
using Iser.Core.Iscsi.Initiator;
using Iser.Core.Scsi;
using Iser.Tests.Peers;
using Iser.Transport.Tcp;

namespace Iser.Tests.Rbd;

/// <summary>
/// Two gateways: two target processes (portal groups 1 and 2, one target name) serving one rbd image, their
/// persistent reservations in the RADOS object beside it. Host 1 has a path through each; host 2 reaches gateway B.
/// What host 1 registers and reserves through A, B enforces; REPORT TARGET PORT GROUPS through either lists both
/// gateways' groups; after A stops, B reports A's group unavailable (with ASYMMETRIC ACCESS STATE CHANGED), still holds
/// the registrations and the reservation, host 1 preempts the reservation onto its path through B, makes B's group
/// active/optimized (SET TARGET PORT GROUPS, as Linux's scsi_dh_alua does), and its I/O continues there. RESERVE(6)
/// and the unit attentions of PERSISTENT RESERVE OUT reach across the gateways too.
/// </summary>
[Collection(CephCollection.Name)]
[Trait("Category", "Ceph")]
public sealed class RbdGatewayFailoverTests(CephCluster cluster)
{
    private const string Host1 = "iqn.2026-12.org.iser.test:host-1";
    private const string Host2 = "iqn.2026-12.org.iser.test:host-2";
    private const ulong Key1 = 0x1111_2222_3333_4444;
    private const byte WriteExclusive = 1;
    private const int Lun = OurTargetProcess.FirstLun;

    [CephFact]
    public async Task Reservation_taken_through_gateway_A_is_enforced_by_B_and_survives_A_stopping()
    {
        string image = await cluster.CreateImageAsync("gateways", 16 << 20);
        string spec = $"rbd:rbd/{image}{cluster.SpecOptions}";
        string iqn = $"iqn.2026-12.org.iser.test:gw-{Guid.NewGuid():N}"[..44];
        await using var a = await OurTargetProcess.StartAsync(new OurTargetOptions { TargetIqn = iqn, Luns = [spec], PortalGroupTag = 1 });
        await using var b = await OurTargetProcess.StartAsync(new OurTargetOptions
        {
            TargetIqn = iqn, Luns = [spec], PortalGroupTag = 2, ExtraArguments = ["--alua", "2=active-non-optimized"],
        });
        await using var host1ThroughA = await ConnectAsync(a, Host1, iqn);
        await using var host1ThroughB = await ConnectAsync(b, Host1, iqn);
        await using var host2ThroughB = await ConnectAsync(b, Host2, iqn);
        // The first command of each session meets the power-on unit attention.
        foreach (var s in new[] { host1ThroughA, host1ThroughB, host2ThroughB }) await TestUnitReadyAsync(s);

        // Either gateway reports both groups: A's (1, active/optimized, its port 1) and B's (2, active/non-optimized, port 2).
        (ushort, int, byte, ushort)[] both = [(1, 0, 0, 1), (2, 1, 2, 2)];
        await UntilAsync(async () => (await ReportGroupsAsync(host2ThroughB)).SequenceEqual(both), "B reports A's group and its own");
        Assert.Equal(both, await ReportGroupsAsync(host1ThroughA));
        foreach (var s in new[] { host1ThroughA, host1ThroughB, host2ThroughB }) await TestUnitReadyAsync(s); // B's start may have told A's nexus

        // Host 1 registers both paths with one key (as mpathpersist does) and reserves Write Exclusive through A.
        AssertGood(await PrOutAsync(host1ThroughA, 0x00, 0, 0, Key1), "REGISTER through A");
        AssertGood(await PrOutAsync(host1ThroughB, 0x00, 0, 0, Key1), "REGISTER through B");
        AssertGood(await PrOutAsync(host1ThroughA, 0x01, WriteExclusive, Key1, 0), "RESERVE through A");

        var data = Pattern(512 * 8, 1);
        AssertGood(await WriteAsync(host1ThroughA, 0, data), "the holder's write through A");
        Assert.Equal(ScsiStatus.ReservationConflict, (await WriteAsync(host2ThroughB, 0, Pattern(512, 2))).Status);
        // Under Write Exclusive only the holder's I_T nexus writes, even for host 1's other path; reading is open to all.
        Assert.Equal(ScsiStatus.ReservationConflict, (await WriteAsync(host1ThroughB, 0, Pattern(512, 3))).Status);
        Assert.Equal(data, await ReadAsync(host2ThroughB, 0, 8));

        var (generation, keys) = await ReadKeysAsync(host2ThroughB);
        Assert.Equal(2u, generation);
        Assert.Equal([Key1, Key1], keys);
        Assert.Equal((Key1, WriteExclusive), await ReadReservationAsync(host2ThroughB));

        // Gateway A stops (cleanly: its watches on the reservation and ALUA objects go with it).
        await a.StopAndAssertCleanExitAsync();

        // B finds A gone (A no longer answers B's pings): every nexus on B hears ASYMMETRIC ACCESS STATE CHANGED, and
        // REPORT TARGET PORT GROUPS through B gives A's group as unavailable, changed implicitly.
        foreach (var s in new[] { host1ThroughB, host2ThroughB })
        {
            var gone = await UntilToldAsync(s, TimeSpan.FromSeconds(20));
            Assert.True(gone.Sense is { SenseKey: SenseKey.UnitAttention, Asc: 0x2A, Ascq: 0x06 }, $"expected ASYMMETRIC ACCESS STATE CHANGED, got {gone.Describe()}");
        }
        Assert.Equal([(1, 3, 2, 1), (2, 1, 2, 2)], await ReportGroupsAsync(host1ThroughB));
        // Through A's group itself: the path is gone (the initiator sees the connection refused).
        await Assert.ThrowsAnyAsync<Exception>(() => ConnectAsync(a, Host1, iqn));

        (generation, keys) = await ReadKeysAsync(host1ThroughB);
        Assert.Equal(2u, generation);
        Assert.Equal([Key1, Key1], keys);
        Assert.Equal((Key1, WriteExclusive), await ReadReservationAsync(host1ThroughB));
        Assert.Equal(ScsiStatus.ReservationConflict, (await WriteAsync(host1ThroughB, 0, Pattern(512, 4))).Status);

        // Failover: host 1 moves the reservation to its path through B (PREEMPT of its own key: the path through A
        // loses its registration, the issuer holds the reservation), then makes B's group active/optimized. In that
        // order: SET TARGET PORT GROUPS from a registrant that does not hold a Write Exclusive reservation conflicts
        // (SPC-4's table of commands allowed under persistent reservations), which this checks too.
        Assert.Equal(1, await AccessStateAsync(host1ThroughB, 2)); // active/non-optimized
        Assert.Equal(ScsiStatus.ReservationConflict, (await SetTargetPortGroupAsync(host1ThroughB, 2, 0)).Status);
        AssertGood(await PrOutAsync(host1ThroughB, 0x04, WriteExclusive, Key1, Key1), "PREEMPT through B");
        AssertGood(await SetTargetPortGroupAsync(host1ThroughB, 2, 0), "SET TARGET PORT GROUPS through B");
        Assert.Equal(0, await AccessStateAsync(host1ThroughB, 2)); // active/optimized

        // Host 2's nexus on B hears of the state change on its next command (ASYMMETRIC ACCESS STATE CHANGED).
        var told = await TestUnitReadyOnceAsync(host2ThroughB);
        Assert.Equal(ScsiStatus.CheckCondition, told.Status);
        Assert.True(told.Sense is { Asc: 0x2A, Ascq: 0x06 }, $"expected ASYMMETRIC ACCESS STATE CHANGED, got {told.Describe()}");

        var after = Pattern(512 * 8, 5);
        AssertGood(await WriteAsync(host1ThroughB, 0, after), "host 1's write through B after failover");
        Assert.Equal(after, await ReadAsync(host1ThroughB, 0, 8));
        Assert.Equal(ScsiStatus.ReservationConflict, (await WriteAsync(host2ThroughB, 0, Pattern(512, 6))).Status);
        (generation, keys) = await ReadKeysAsync(host2ThroughB);
        Assert.Equal(3u, generation);
        Assert.Equal([Key1], keys);
        Assert.Equal((Key1, WriteExclusive), await ReadReservationAsync(host2ThroughB));
        await b.StopAndAssertCleanExitAsync();
    }

    [CephFact]
    public async Task Reserve6_and_the_unit_attentions_of_a_preempt_reach_across_the_gateways()
    {
        string image = await cluster.CreateImageAsync("gateways-reserve", 16 << 20);
        string spec = $"rbd:rbd/{image}{cluster.SpecOptions}";
        string iqn = $"iqn.2026-12.org.iser.test:gw-{Guid.NewGuid():N}"[..44];
        await using var a = await OurTargetProcess.StartAsync(new OurTargetOptions { TargetIqn = iqn, Luns = [spec], PortalGroupTag = 1 });
        await using var b = await OurTargetProcess.StartAsync(new OurTargetOptions { TargetIqn = iqn, Luns = [spec], PortalGroupTag = 2 });
        await using var host1ThroughA = await ConnectAsync(a, Host1, iqn);
        await using var host2ThroughB = await ConnectAsync(b, Host2, iqn);
        foreach (var s in new[] { host1ThroughA, host2ThroughB }) await TestUnitReadyAsync(s);
        await TestUnitReadyAsync(host1ThroughA); // B's start (its groups published) may have told A's nexus
        byte[] reserve6 = [0x16, 0, 0, 0, 0, 0], release6 = [0x17, 0, 0, 0, 0, 0];

        AssertGood(await host1ThroughA.ExecuteAsync(Lun, reserve6, default, default), "RESERVE(6) through A");
        Assert.Equal(ScsiStatus.ReservationConflict, (await WriteAsync(host2ThroughB, 0, Pattern(512, 1))).Status);
        Assert.Equal(ScsiStatus.ReservationConflict, (await host2ThroughB.ExecuteAsync(Lun, reserve6, default, default)).Status);
        var data = Pattern(512 * 4, 2);
        AssertGood(await WriteAsync(host1ThroughA, 0, data), "the RESERVE holder's write through A");
        AssertGood(await host1ThroughA.ExecuteAsync(Lun, release6, default, default), "RELEASE(6) through A");
        AssertGood(await WriteAsync(host2ThroughB, 4, data), "host 2's write through B once released");
        Assert.Equal(data, await ReadAsync(host1ThroughA, 4, 4));

        // Host 2 registers through B; host 1 registers through A and preempts host 2's registration: B tells host 2.
        const ulong key2 = 0x2222_0000_0000_0002;
        AssertGood(await PrOutAsync(host2ThroughB, 0x00, 0, 0, key2), "REGISTER through B");
        AssertGood(await PrOutAsync(host1ThroughA, 0x00, 0, 0, Key1), "REGISTER through A");
        AssertGood(await PrOutAsync(host1ThroughA, 0x04, WriteExclusive, Key1, key2), "PREEMPT through A");
        var told = await TestUnitReadyOnceAsync(host2ThroughB);
        Assert.True(told.Sense is { SenseKey: SenseKey.UnitAttention, Asc: 0x2A, Ascq: 0x05 }, $"expected REGISTRATIONS PREEMPTED, got {told.Describe()}");
        var (_, keysLeft) = await ReadKeysAsync(host2ThroughB);
        Assert.Equal([Key1], keysLeft);
        AssertGood(await TestUnitReadyOnceAsync(host2ThroughB), "TEST UNIT READY once told");
        await a.StopAndAssertCleanExitAsync();
        await b.StopAndAssertCleanExitAsync();
    }

    [CephFact]
    public async Task With_alua_auto_gateway_B_takes_over_as_active_optimized_when_A_stops()
    {
        string image = await cluster.CreateImageAsync("gateways-auto", 16 << 20);
        string spec = $"rbd:rbd/{image}{cluster.SpecOptions}";
        string iqn = $"iqn.2026-12.org.iser.test:gw-{Guid.NewGuid():N}"[..44];
        await using var a = await OurTargetProcess.StartAsync(new OurTargetOptions { TargetIqn = iqn, Luns = [spec], PortalGroupTag = 1 });
        await using var b = await OurTargetProcess.StartAsync(new OurTargetOptions
        {
            TargetIqn = iqn, Luns = [spec + ":alua=auto"], PortalGroupTag = 2, ExtraArguments = ["--alua", "2=active-non-optimized"],
        });
        await using var host1ThroughB = await ConnectAsync(b, Host1, iqn);
        await TestUnitReadyAsync(host1ThroughB);
        (ushort, int, byte, ushort)[] both = [(1, 0, 0, 1), (2, 1, 2, 2)];
        await UntilAsync(async () => (await ReportGroupsAsync(host1ThroughB)).SequenceEqual(both), "B reports both groups");

        await a.StopAndAssertCleanExitAsync();

        var told = await UntilToldAsync(host1ThroughB, TimeSpan.FromSeconds(20));
        Assert.True(told.Sense is { SenseKey: SenseKey.UnitAttention, Asc: 0x2A, Ascq: 0x06 }, $"expected ASYMMETRIC ACCESS STATE CHANGED, got {told.Describe()}");
        await UntilAsync(async () => (await TestUnitReadyOnceAsync(host1ThroughB)).IsGood, "the unit attentions reported");
        (ushort, int, byte, ushort)[] takenOver = [(1, 3, 2, 1), (2, 0, 2, 2)];
        await UntilAsync(async () => (await ReportGroupsAsync(host1ThroughB)).SequenceEqual(takenOver), "B reports A unavailable and itself active/optimized");
        var data = Pattern(512 * 8, 7);
        AssertGood(await WriteAsync(host1ThroughB, 0, data), "write through B after the takeover");
        Assert.Equal(data, await ReadAsync(host1ThroughB, 0, 8));
        await b.StopAndAssertCleanExitAsync();
    }

    [CephFact]
    public async Task A_hung_gateway_is_reported_unavailable_and_active_again_once_it_answers()
    {
        string image = await cluster.CreateImageAsync("gateways-hung", 16 << 20);
        string spec = $"rbd:rbd/{image}{cluster.SpecOptions}";
        string iqn = $"iqn.2026-12.org.iser.test:gw-{Guid.NewGuid():N}"[..44];
        await using var a = await OurTargetProcess.StartAsync(new OurTargetOptions { TargetIqn = iqn, Luns = [spec], PortalGroupTag = 1 });
        await using var b = await OurTargetProcess.StartAsync(new OurTargetOptions
        {
            TargetIqn = iqn, Luns = [spec], PortalGroupTag = 2, ExtraArguments = ["--alua", "2=active-non-optimized"],
        });
        await using var host1ThroughB = await ConnectAsync(b, Host1, iqn);
        await TestUnitReadyAsync(host1ThroughB);
        (ushort, int, byte, ushort)[] both = [(1, 0, 0, 1), (2, 1, 2, 2)];
        await UntilAsync(async () => (await ReportGroupsAsync(host1ThroughB)).SequenceEqual(both), "B reports both groups");
        await UntilAsync(async () => (await TestUnitReadyOnceAsync(host1ThroughB)).IsGood, "nothing pending on B");

        // A hangs: its watch stays on the OSD, but it acknowledges none of B's pings.
        a.Freeze();
        try
        {
            var told = await UntilToldAsync(host1ThroughB, TimeSpan.FromSeconds(20));
            Assert.True(told.Sense is { SenseKey: SenseKey.UnitAttention, Asc: 0x2A, Ascq: 0x06 }, $"expected ASYMMETRIC ACCESS STATE CHANGED, got {told.Describe()}");
            Assert.Equal([(1, 3, 2, 1), (2, 1, 2, 2)], await ReportGroupsAsync(host1ThroughB));
            var data = Pattern(512 * 4, 9);
            AssertGood(await WriteAsync(host1ThroughB, 0, data), "write through B while A hangs");
            Assert.Equal(data, await ReadAsync(host1ThroughB, 0, 4));
        }
        finally { a.Thaw(); }

        // A answers again: B reports its group as A published it, and tells its nexus.
        var back = await UntilToldAsync(host1ThroughB, TimeSpan.FromSeconds(20));
        Assert.True(back.Sense is { SenseKey: SenseKey.UnitAttention, Asc: 0x2A, Ascq: 0x06 }, $"expected ASYMMETRIC ACCESS STATE CHANGED, got {back.Describe()}");
        Assert.Equal(both, await ReportGroupsAsync(host1ThroughB));
        await a.StopAndAssertCleanExitAsync();
        await b.StopAndAssertCleanExitAsync();
    }

    /// <summary>REPORT TARGET PORT GROUPS: per group its identifier, state, status code and its one target port.</summary>
    private static async Task<(ushort Group, int State, byte Status, ushort Port)[]> ReportGroupsAsync(IscsiSession session)
    {
        var data = new byte[1024];
        var response = await session.ExecuteAsync(Lun, [0xA3, 0x0A, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0], data, default);
        AssertGood(response, "REPORT TARGET PORT GROUPS");
        int end = 4 + (int)BinaryPrimitives.ReadUInt32BigEndian(data);
        var groups = new List<(ushort, int, byte, ushort)>();
        for (int at = 4; at + 8 <= end; at += 8 + 4 * data[at + 7])
        {
            Assert.Equal(1, data[at + 7]);
            groups.Add((BinaryPrimitives.ReadUInt16BigEndian(data.AsSpan(at + 2)), data[at] & 0x0F, data[at + 5],
                BinaryPrimitives.ReadUInt16BigEndian(data.AsSpan(at + 8 + 2))));
        }
        return [.. groups];
    }

    /// <summary>TEST UNIT READY until it ends in a unit attention (returned), within <paramref name="timeout"/>.</summary>
    private static async Task<ScsiResponse> UntilToldAsync(IscsiSession session, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var response = await TestUnitReadyOnceAsync(session);
            if (!response.IsGood) return response;
            Assert.True(DateTime.UtcNow < deadline, $"no unit attention within {timeout.TotalSeconds} s");
            await Task.Delay(200);
        }
    }

    private static async Task UntilAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"{what}: not within 15 s");
            await Task.Delay(200);
        }
    }

    private static async Task<IscsiSession> ConnectAsync(OurTargetProcess target, string initiator, string iqn) =>
        await IscsiSession.ConnectAsync(new IscsiSessionOptions
        {
            Host = "127.0.0.1",
            Port = target.Port,
            TargetName = iqn,
            InitiatorName = initiator,
            LoginTimeout = TimeSpan.FromSeconds(10),
        }, new TcpInitiatorTransport());

    private static async Task TestUnitReadyAsync(IscsiSession session)
    {
        for (int i = 0; i < 4; i++)
            if ((await session.ExecuteAsync(Lun, new byte[6], default, default)).IsGood) return;
        Assert.Fail("TEST UNIT READY kept failing");
    }

    private static Task<ScsiResponse> TestUnitReadyOnceAsync(IscsiSession session) =>
        session.ExecuteAsync(Lun, new byte[6], default, default).AsTask();

    private static Task<ScsiResponse> PrOutAsync(IscsiSession session, byte serviceAction, byte type, ulong key, ulong serviceActionKey)
    {
        var list = new byte[24];
        BinaryPrimitives.WriteUInt64BigEndian(list, key);
        BinaryPrimitives.WriteUInt64BigEndian(list.AsSpan(8), serviceActionKey);
        return session.ExecuteAsync(Lun, [0x5F, serviceAction, type, 0, 0, 0, 0, 0, 24, 0], default, list).AsTask();
    }

    private static async Task<(uint Generation, ulong[] Keys)> ReadKeysAsync(IscsiSession session)
    {
        var data = new byte[1024];
        var response = await session.ExecuteAsync(Lun, [0x5E, 0x00, 0, 0, 0, 0, 0, 4, 0, 0], data, default);
        AssertGood(response, "READ KEYS");
        int length = (int)BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(4));
        var keys = new ulong[length / 8];
        for (int i = 0; i < keys.Length; i++) keys[i] = BinaryPrimitives.ReadUInt64BigEndian(data.AsSpan(8 + 8 * i));
        return (BinaryPrimitives.ReadUInt32BigEndian(data), keys);
    }

    private static async Task<(ulong Key, byte Type)> ReadReservationAsync(IscsiSession session)
    {
        var data = new byte[1024];
        var response = await session.ExecuteAsync(Lun, [0x5E, 0x01, 0, 0, 0, 0, 0, 4, 0, 0], data, default);
        AssertGood(response, "READ RESERVATION");
        if (BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(4)) == 0) return (0, 0);
        return (BinaryPrimitives.ReadUInt64BigEndian(data.AsSpan(8)), (byte)(data[8 + 13] & 0x0F));
    }

    /// <summary>The asymmetric access state REPORT TARGET PORT GROUPS gives <paramref name="group"/>.</summary>
    private static async Task<int> AccessStateAsync(IscsiSession session, ushort group)
    {
        var data = new byte[1024];
        var response = await session.ExecuteAsync(Lun, [0xA3, 0x0A, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0], data, default);
        AssertGood(response, "REPORT TARGET PORT GROUPS");
        int end = 4 + (int)BinaryPrimitives.ReadUInt32BigEndian(data);
        for (int at = 4; at + 8 <= end; at += 8 + 4 * data[at + 7])
            if (BinaryPrimitives.ReadUInt16BigEndian(data.AsSpan(at + 2)) == group) return data[at] & 0x0F;
        Assert.Fail($"REPORT TARGET PORT GROUPS does not list group {group}");
        return -1;
    }

    private static Task<ScsiResponse> SetTargetPortGroupAsync(IscsiSession session, ushort group, byte state)
    {
        var list = new byte[8];
        list[4] = state;
        BinaryPrimitives.WriteUInt16BigEndian(list.AsSpan(6), group);
        return session.ExecuteAsync(Lun, [0xA4, 0x0A, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0], default, list).AsTask();
    }

    private static Task<ScsiResponse> WriteAsync(IscsiSession session, long lba, byte[] data)
    {
        var cdb = new byte[16];
        cdb[0] = 0x8A;
        BinaryPrimitives.WriteUInt64BigEndian(cdb.AsSpan(2), (ulong)lba);
        BinaryPrimitives.WriteUInt32BigEndian(cdb.AsSpan(10), (uint)(data.Length / 512));
        return session.ExecuteAsync(Lun, cdb, default, data).AsTask();
    }

    private static async Task<byte[]> ReadAsync(IscsiSession session, long lba, int blocks)
    {
        var cdb = new byte[16];
        cdb[0] = 0x88;
        BinaryPrimitives.WriteUInt64BigEndian(cdb.AsSpan(2), (ulong)lba);
        BinaryPrimitives.WriteUInt32BigEndian(cdb.AsSpan(10), (uint)blocks);
        var data = new byte[blocks * 512];
        AssertGood(await session.ExecuteAsync(Lun, cdb, data, default), "READ");
        return data;
    }

    private static void AssertGood(ScsiResponse response, string what) =>
        Assert.True(response.IsGood, $"{what}: {response.Describe()}");

    private static byte[] Pattern(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }
}
