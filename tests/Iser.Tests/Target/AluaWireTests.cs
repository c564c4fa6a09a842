using System.Buffers.Binary;
using System.Net;
using Iser.Core.Iscsi.Initiator;
using Iser.Core.Iscsi.Target;
using Iser.Core.Scsi;
using Iser.Core.Scsi.Target;
using Iser.Core.Scsi.Target.Alua;
using Iser.Core.Scsi.Target.Stores;
using Iser.Transport.Tcp;
using Microsoft.Extensions.Logging.Abstractions;

namespace Iser.Tests.Target;

/// <summary>
/// ALUA through the target on the wire: one block logical unit reached through two portals on 127.0.0.1, in portal
/// groups 1 and 2 (target port groups 1 and 2, relative target ports 1 and 2), one session through each. Checks the
/// login's TargetPortalGroupTag, SendTargets, INQUIRY's TPGS and page 83h, REPORT and SET TARGET PORT GROUPS byte by byte
/// against SPC-4 §6.27 and §6.46, and what each access state lets through (SPC-4 §5.15.2.4).
/// </summary>
public class AluaWireTests
{
    private const string Iqn = "iqn.2026-12.org.iser.test:alua";

    [Fact]
    public async Task The_login_response_carries_the_portal_group_tag_of_the_listener()
    {
        await using var rig = await Rig.StartAsync();
        Assert.Equal((ushort)1, rig.First.Negotiated.TargetPortalGroupTag);
        Assert.Equal((ushort)2, rig.Second.Negotiated.TargetPortalGroupTag);
    }

    [Fact]
    public async Task SendTargets_lists_each_portal_with_its_own_tag()
    {
        await using var rig = await Rig.StartAsync();
        var targets = await IscsiDiscovery.DiscoverAsync("127.0.0.1", rig.Port1, new IscsiSessionOptions(), new TcpInitiatorTransport());
        var target = Assert.Single(targets);
        Assert.Equal(Iqn, target.Name);
        Assert.Equal(2, target.Portals.Count);
        Assert.Contains(target.Portals, p => p.Host == "127.0.0.1" && p.Port == rig.Port1 && p.PortalGroupTag == 1);
        Assert.Contains(target.Portals, p => p.Host == "127.0.0.1" && p.Port == rig.Port2 && p.PortalGroupTag == 2);
    }

    [Fact]
    public async Task Standard_inquiry_reports_implicit_and_explicit_alua()
    {
        await using var rig = await Rig.StartAsync();
        foreach (var session in new[] { rig.First, rig.Second })
        {
            var (r, d) = await In(session, [0x12, 0, 0, 0, 96, 0], 96);
            Assert.True(r.IsGood, r.Describe());
            Assert.Equal(0x30, d[5] & 0x30); // TPGS 11b
            Assert.Equal(0x08, d[5] & 0x08); // 3PC kept
        }
    }

    [Fact]
    public async Task Device_identification_names_the_target_port_and_group_the_command_came_through()
    {
        await using var rig = await Rig.StartAsync();
        var (r1, d1) = await In(rig.First, [0x12, 0x01, 0x83, 0x01, 0x00, 0], 256);
        var (r2, d2) = await In(rig.Second, [0x12, 0x01, 0x83, 0x01, 0x00, 0], 256);
        Assert.True(r1.IsGood && r2.IsGood, r1.Describe() + " / " + r2.Describe());
        Assert.Equal(0x83, d1[1]);
        Assert.Equal(d1.Length - 4, BinaryPrimitives.ReadUInt16BigEndian(d1.AsSpan(2)));
        Assert.Equal(d1.Length, d2.Length);
        // The logical unit's designators come first and are the same through both ports: NAA (LU, binary, type 3h) ...
        Assert.Equal(new byte[] { 0x01, 0x03, 0x00, 0x08 }, d1[4..8]);
        Assert.Equal(d1[..^16], d2[..^16]);
        // ... then PIV + iSCSI, association 01b (target port): relative target port (4h), target port group (5h).
        Assert.Equal(new byte[] { 0x51, 0x94, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01, 0x51, 0x95, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01 }, d1[^16..]);
        Assert.Equal(new byte[] { 0x51, 0x94, 0x00, 0x04, 0x00, 0x00, 0x00, 0x02, 0x51, 0x95, 0x00, 0x04, 0x00, 0x00, 0x00, 0x02 }, d2[^16..]);
    }

    [Fact]
    public async Task Report_target_port_groups_shows_both_groups_their_states_and_ports_in_both_formats()
    {
        await using var rig = await Rig.StartAsync();
        byte[] bothActive =
        [
            0x00, 0x00, 0x00, 24,
            0x00, 0x8F, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01,
            0x00, 0x8F, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02,
        ];
        foreach (var session in new[] { rig.First, rig.Second })
        {
            var (r, d) = await In(session, Rtpg(0, 1024), 1024);
            Assert.True(r.IsGood, r.Describe());
            Assert.Equal(bothActive, d);
        }
        await Good(rig.First, [0, 0, 0, 0, 0, 0]);
        await Good(rig.Second, [0, 0, 0, 0, 0, 0]);
        rig.Target.SetAccessState(2, AluaState.Standby);
        Assert.Equal(Attention(0x2A, 0x06), await Run(rig.First, Rtpg(1, 1024)));
        // Extended header: FORMAT TYPE 001b, IMPLICIT TRANSITION TIME 0; group 2 standby, altered implicitly (02h).
        byte[] extended =
        [
            0x00, 0x00, 0x00, 28, 0x10, 0x00, 0x00, 0x00,
            0x00, 0x8F, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01,
            0x02, 0x8F, 0x00, 0x02, 0x00, 0x02, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02,
        ];
        var (re, de) = await In(rig.First, Rtpg(1, 1024), 1024);
        Assert.True(re.IsGood, re.Describe());
        Assert.Equal(extended, de);
        // A short allocation length truncates; RETURN DATA LENGTH still tells the whole length.
        var (rs, ds) = await In(rig.First, Rtpg(1, 10), 10);
        Assert.True(rs.IsGood, rs.Describe());
        Assert.Equal(extended[..10], ds);
        // Through the standby group too (REPORT TARGET PORT GROUPS is allowed in every state), after its attention.
        Assert.Equal(Attention(0x2A, 0x06), await Run(rig.Second, Rtpg(0, 1024)));
        var (r2, d2) = await In(rig.Second, Rtpg(0, 1024), 1024);
        Assert.True(r2.IsGood, r2.Describe());
        Assert.Equal(extended[8..], d2[4..]);
        Assert.Equal(24u, BinaryPrimitives.ReadUInt32BigEndian(d2));
        // PARAMETER DATA FORMAT 010b is reserved.
        var bad = Rtpg(0, 1024);
        bad[1] |= 0x40;
        Assert.Equal(new Outcome(0x02, 0x05, 0x24, 0x00), await Run(rig.First, bad));
    }

    [Fact]
    public async Task Standby_refuses_media_access_through_its_group_only_after_telling_every_nexus()
    {
        await using var rig = await Rig.StartAsync();
        await Good(rig.First, [0, 0, 0, 0, 0, 0]);
        await Good(rig.Second, [0, 0, 0, 0, 0, 0]);
        rig.Target.SetAccessState(2, AluaState.Standby);
        Assert.Equal(Attention(0x2A, 0x06), await Run(rig.Second, Read10(0, 1), 512));
        Assert.Equal(NotReady(0x0B), await Run(rig.Second, Read10(0, 1), 512));
        Assert.Equal(NotReady(0x0B), await Run(rig.Second, [0, 0, 0, 0, 0, 0]));
        Assert.Equal(NotReady(0x0B), await Run(rig.Second, Write10(0, 1), dataOut: new byte[512]));
        await Good(rig.Second, [0x12, 0, 0, 0, 96, 0], 96);          // INQUIRY
        await Good(rig.Second, Rtpg(0, 1024), 1024);                  // REPORT TARGET PORT GROUPS
        await Good(rig.Second, [0x1A, 0x08, 0x3F, 0, 255, 0], 255);   // MODE SENSE(6): standby allows it
        await Good(rig.Second, [0x5E, 0x00, 0, 0, 0, 0, 0, 0, 64, 0], 64); // PERSISTENT RESERVE IN, READ KEYS
        // REQUEST SENSE reports why the logical unit is not accessible.
        var (rs, sense) = await In(rig.Second, [0x03, 0, 0, 0, 18, 0], 18);
        Assert.True(rs.IsGood, rs.Describe());
        Assert.Equal((0x02, 0x04, 0x0B), (sense[2] & 0x0F, (int)sense[12], (int)sense[13]));
        // Group 1 is active: after the same attention, it reads.
        Assert.Equal(Attention(0x2A, 0x06), await Run(rig.First, Read10(0, 1), 512));
        await Good(rig.First, Read10(0, 1), 512);
    }

    [Fact]
    public async Task Unavailable_and_transitioning_refuse_with_their_own_conditions_and_active_again_reads_what_was_written()
    {
        await using var rig = await Rig.StartAsync();
        await Good(rig.First, [0, 0, 0, 0, 0, 0]);
        await Good(rig.Second, [0, 0, 0, 0, 0, 0]);
        rig.Target.SetAccessState(2, AluaState.Unavailable);
        Assert.Equal(Attention(0x2A, 0x06), await Run(rig.Second, [0, 0, 0, 0, 0, 0]));
        Assert.Equal(NotReady(0x0C), await Run(rig.Second, Read10(0, 1), 512));
        Assert.Equal(NotReady(0x0C), await Run(rig.Second, [0x1A, 0x08, 0x3F, 0, 255, 0], 255)); // MODE SENSE: not in unavailable
        await Good(rig.Second, [0xA0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00, 0, 0], 256);           // REPORT LUNS
        var data = new byte[1024];
        Random.Shared.NextBytes(data);
        Assert.Equal(Attention(0x2A, 0x06), await Run(rig.First, [0, 0, 0, 0, 0, 0]));
        await Good(rig.First, Write10(8, 2), dataOut: data);
        rig.Target.SetAccessState(2, AluaState.Transitioning);
        Assert.Equal(Attention(0x2A, 0x06), await Run(rig.Second, [0, 0, 0, 0, 0, 0]));
        Assert.Equal(NotReady(0x0A), await Run(rig.Second, Read10(8, 2), 1024));
        Assert.Equal(NotReady(0x0A), await Run(rig.Second, [0x5E, 0x00, 0, 0, 0, 0, 0, 0, 64, 0], 64)); // PR IN: not while transitioning
        rig.Target.SetAccessState(2, AluaState.ActiveOptimized);
        Assert.Equal(Attention(0x2A, 0x06), await Run(rig.Second, [0, 0, 0, 0, 0, 0]));
        var (r, read) = await In(rig.Second, Read10(8, 2), 1024);
        Assert.True(r.IsGood, r.Describe());
        Assert.Equal(data, read);
    }

    [Fact]
    public async Task Set_target_port_groups_changes_the_other_group_and_tells_only_the_other_nexuses()
    {
        await using var rig = await Rig.StartAsync();
        await Good(rig.First, [0, 0, 0, 0, 0, 0]);
        await Good(rig.Second, [0, 0, 0, 0, 0, 0]);
        await Good(rig.First, Stpg(8), dataOut: StpgList((0x03, 2)));
        Assert.Equal(AluaState.Unavailable, rig.Target.AccessStates.StateOf(2));
        await Good(rig.First, [0, 0, 0, 0, 0, 0]); // the nexus that made the change is not told
        Assert.Equal(Attention(0x2A, 0x06), await Run(rig.Second, [0, 0, 0, 0, 0, 0]));
        Assert.Equal(NotReady(0x0C), await Run(rig.Second, Read10(0, 1), 512));
        // Group 2's descriptor: unavailable, altered by SET TARGET PORT GROUPS (01h).
        var (r, d) = await In(rig.First, Rtpg(0, 1024), 1024);
        Assert.True(r.IsGood, r.Describe());
        Assert.Equal(new byte[] { 0x03, 0x8F, 0x00, 0x02, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02 }, d[16..28]);
        // Back to active through the unavailable group itself (SET TARGET PORT GROUPS is allowed there); now group 1 hears.
        await Good(rig.Second, Stpg(8), dataOut: StpgList((0x00, 2)));
        Assert.Equal(Attention(0x2A, 0x06), await Run(rig.First, [0, 0, 0, 0, 0, 0]));
        await Good(rig.Second, Read10(0, 1), 512);
    }

    [Fact]
    public async Task Set_target_port_groups_with_a_bad_state_or_an_unknown_group_is_refused_and_changes_nothing()
    {
        await using var rig = await Rig.StartAsync();
        await Good(rig.First, [0, 0, 0, 0, 0, 0]);
        await Good(rig.Second, [0, 0, 0, 0, 0, 0]);
        // The first descriptor is good, the second asks for transitioning (the target's own state): nothing changes.
        var (badState, badStateSense) = await Sense(rig.First, Stpg(12), StpgList((0x02, 1), (0x0F, 2)));
        Assert.Equal(new Outcome(0x02, 0x05, 0x26, 0x00), badState);
        Assert.Equal(new byte[] { 0x8B, 0x00, 0x08 }, badStateSense[15..18]); // SKSV, BPV bit 3, parameter byte 8
        var (unknown, unknownSense) = await Sense(rig.First, Stpg(12), StpgList((0x02, 1), (0x01, 7)));
        Assert.Equal(new Outcome(0x02, 0x05, 0x26, 0x00), unknown);
        Assert.Equal(new byte[] { 0x80, 0x00, 0x0A }, unknownSense[15..18]); // SKSV, parameter byte 10 (the group)
        var (offline, _) = await Sense(rig.First, Stpg(8), StpgList((0x0E, 2)));
        Assert.Equal(new Outcome(0x02, 0x05, 0x26, 0x00), offline);
        var (shortList, _) = await Sense(rig.First, Stpg(6), new byte[6]);
        Assert.Equal(new Outcome(0x02, 0x05, 0x1A, 0x00), shortList);
        Assert.Equal(AluaState.ActiveOptimized, rig.Target.AccessStates.StateOf(1));
        Assert.Equal(AluaState.ActiveOptimized, rig.Target.AccessStates.StateOf(2));
        await Good(rig.First, Read10(0, 1), 512);
        await Good(rig.Second, Read10(0, 1), 512); // no attention: nothing changed
    }

    [Fact]
    public async Task Report_supported_operation_codes_shows_report_and_set_target_port_groups()
    {
        await using var rig = await Rig.StartAsync();
        var (r, d) = await In(rig.First, Rsoc(0xA3, 0x0A), 64);
        Assert.True(r.IsGood, r.Describe());
        Assert.Equal(new byte[] { 0x00, 0x03, 0x00, 12, 0xA3, 0xEA, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0 }, d);
        var (r2, d2) = await In(rig.First, Rsoc(0xA4, 0x0A), 64);
        Assert.True(r2.IsGood, r2.Describe());
        Assert.Equal(new byte[] { 0x00, 0x03, 0x00, 12, 0xA4, 0x0A, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0 }, d2);
    }

    // ---- CDBs ----

    private static byte[] Rtpg(byte format, uint allocation)
    {
        var c = new byte[12];
        c[0] = 0xA3;
        c[1] = (byte)(format << 5 | 0x0A);
        BinaryPrimitives.WriteUInt32BigEndian(c.AsSpan(6), allocation);
        return c;
    }

    private static byte[] Stpg(uint length)
    {
        var c = new byte[12];
        c[0] = 0xA4;
        c[1] = 0x0A;
        BinaryPrimitives.WriteUInt32BigEndian(c.AsSpan(6), length);
        return c;
    }

    private static byte[] StpgList(params (byte State, ushort Group)[] descriptors)
    {
        var list = new byte[4 + 4 * descriptors.Length];
        for (int i = 0; i < descriptors.Length; i++)
        {
            list[4 + 4 * i] = descriptors[i].State;
            BinaryPrimitives.WriteUInt16BigEndian(list.AsSpan(6 + 4 * i), descriptors[i].Group);
        }
        return list;
    }

    private static byte[] Rsoc(byte opcode, ushort serviceAction)
    {
        var c = new byte[12];
        c[0] = 0xA3;
        c[1] = 0x0C;
        c[2] = 0x02; // one command, by opcode and service action
        c[3] = opcode;
        BinaryPrimitives.WriteUInt16BigEndian(c.AsSpan(4), serviceAction);
        BinaryPrimitives.WriteUInt32BigEndian(c.AsSpan(6), 64);
        return c;
    }

    private static byte[] Read10(uint lba, ushort blocks) => Rw10(0x28, lba, blocks);
    private static byte[] Write10(uint lba, ushort blocks) => Rw10(0x2A, lba, blocks);

    private static byte[] Rw10(byte opcode, uint lba, ushort blocks)
    {
        var c = new byte[10];
        c[0] = opcode;
        BinaryPrimitives.WriteUInt32BigEndian(c.AsSpan(2), lba);
        BinaryPrimitives.WriteUInt16BigEndian(c.AsSpan(7), blocks);
        return c;
    }

    // ---- running them ----

    private readonly record struct Outcome(byte Status, byte Key, byte Asc, byte Ascq);

    private static Outcome Attention(byte asc, byte ascq) => new(0x02, 0x06, asc, ascq);
    private static Outcome NotReady(byte ascq) => new(0x02, 0x02, 0x04, ascq);

    private static async Task<(ScsiResponse Response, byte[] Data)> In(IscsiSession session, byte[] cdb, int length)
    {
        var buffer = new byte[length];
        var r = await session.ExecuteAsync(0, cdb, buffer, default);
        return (r, buffer[..r.TransferredLength]);
    }

    private static async Task<Outcome> Run(IscsiSession session, byte[] cdb, int dataIn = 0, byte[]? dataOut = null) =>
        (await Sense(session, cdb, dataOut, dataIn)).Outcome;

    private static async Task<(Outcome Outcome, byte[] Sense)> Sense(IscsiSession session, byte[] cdb, byte[]? dataOut, int dataIn = 0)
    {
        var r = await session.ExecuteAsync(0, cdb, new byte[dataIn], dataOut ?? default(ReadOnlyMemory<byte>));
        var sense = r.SenseData.ToArray();
        if (r.Status != ScsiStatus.CheckCondition) return (new Outcome((byte)r.Status, 0, 0, 0), sense);
        return (new Outcome((byte)r.Status, (byte)(sense[2] & 0x0F), sense[12], sense[13]), sense);
    }

    private static async Task Good(IscsiSession session, byte[] cdb, int dataIn = 0, byte[]? dataOut = null)
    {
        var r = await session.ExecuteAsync(0, cdb, new byte[dataIn], dataOut ?? default(ReadOnlyMemory<byte>));
        Assert.True(r.IsGood, $"opcode 0x{cdb[0]:X2}: {r.Describe()}");
    }

    private sealed class Rig : IAsyncDisposable
    {
        public required IscsiTarget Target;
        public required IscsiSession First;
        public required IscsiSession Second;
        public required int Port1;
        public required int Port2;

        public static async Task<Rig> StartAsync()
        {
            var target = new IscsiTarget(new IscsiTargetOptions { NopInInterval = TimeSpan.Zero });
            var node = new TargetNode(Iqn);
            node.AddLun(0, new BlockDeviceLogicalUnit(new RamBackingStore(1 << 20), new BlockDeviceOptions { BlockSize = 512 }));
            target.AddNode(node);
            var one = new TcpDatamoverListener(new IPEndPoint(IPAddress.Loopback, 0), NullLogger.Instance);
            var two = new TcpDatamoverListener(new IPEndPoint(IPAddress.Loopback, 0), NullLogger.Instance);
            target.Listen(one, portalGroupTag: 1);
            target.Listen(two, portalGroupTag: 2);
            var transport = new TcpInitiatorTransport();
            var first = await IscsiSession.ConnectAsync(Options(one.LocalEndPoint.Port), transport);
            var second = await IscsiSession.ConnectAsync(Options(two.LocalEndPoint.Port), transport);
            return new Rig { Target = target, First = first, Second = second, Port1 = one.LocalEndPoint.Port, Port2 = two.LocalEndPoint.Port };
        }

        private static IscsiSessionOptions Options(int port) => new()
        {
            Host = "127.0.0.1",
            Port = port,
            TargetName = Iqn,
            LoginTimeout = TimeSpan.FromSeconds(10),
        };

        public async ValueTask DisposeAsync()
        {
            await First.DisposeAsync();
            await Second.DisposeAsync();
            await Target.DisposeAsync();
        }
    }
}
