using System.Buffers.Binary;
using System.Net;
using Iser.Core.Iscsi.Pdus;
using Iser.Core.Iscsi.Target;
using Iser.Core.Iscsi.Text;
using Iser.Tests.Initiator;
using Iser.Transport.Tcp;

namespace Iser.Tests.Target;

/// <summary>
/// The target's multiple connections per session (MC/S, RFC 7143 §4.3, §6.3, §11.14) checked on the wire with scripted
/// connections: joining a session by its TSIH up to MaxConnections, CmdSN order kept across connections (a command ahead
/// of the window waits, its unsolicited data collected meanwhile), and Logout of one connection, of another by its CID,
/// for recovery, and of the whole session.
/// </summary>
public sealed class MultipleConnectionsWireTests
{
    private const string Iqn = "iqn.2026-11.org.iser.test:mcs";
    private const string Initiator = "iqn.2026-11.org.iser.test:mcs-initiator";
    private const ulong Isid = 0x400001234567;

    [Fact]
    public async Task Connections_join_the_session_by_its_TSIH_up_to_MaxConnections_and_no_further()
    {
        await using var rig = await Rig.StartAsync(targetMax: 2);
        Assert.Contains(new TextKeyValue("MaxConnections", "2"), TextKeyValueCodec.Parse(rig.LeadLogin.Data.Span));

        var (second, secondLogin) = await rig.JoinAsync(cid: 1);
        await using var _ = second;
        Assert.Equal(0, secondLogin.Bhs[36]);
        Assert.Equal(rig.Tsih, Tsih(secondLogin));

        var (third, thirdLogin) = await rig.JoinAsync(cid: 2);
        await using var __ = third;
        Assert.Equal(LoginStatusOf(0x02, 0x06), LoginStatusOf(thirdLogin.Bhs[36], thirdLogin.Bhs[37])); // too many connections

        var (stranger, strangerLogin) = await rig.JoinAsync(cid: 3, tsih: (ushort)(rig.Tsih + 1));
        await using var ___ = stranger;
        Assert.Equal(LoginStatusOf(0x02, 0x0a), LoginStatusOf(strangerLogin.Bhs[36], strangerLogin.Bhs[37])); // session does not exist
        Assert.Equal(1, rig.Target.SessionCount);
    }

    [Fact]
    public async Task A_command_ahead_on_one_connection_waits_for_the_CmdSN_before_it_on_another_and_keeps_its_unsolicited_data()
    {
        await using var rig = await Rig.StartAsync(targetMax: 4);
        var (b, _) = await rig.JoinAsync(cid: 1);
        await using var __ = b;
        uint cmdSN = rig.Lead.CmdSN;
        var data = new byte[4096];
        Random.Shared.NextBytes(data);

        // On B: WRITE with CmdSN + 1, no immediate data, its 4 KiB as unsolicited Data-Out (InitialR2T=No): it must wait.
        b.Send(Command(0x20, cmdSN + 1, write: true, lba: 16, blocks: 8, final: false));
        b.Send(DataOut(0x20, data));
        Assert.Null(await b.ReceiveAsync(TimeSpan.FromMilliseconds(300)));

        // On A: READ of the same blocks with CmdSN. It runs first (CmdSN order), so it sees the old zeros; then the write runs.
        rig.Lead.Send(Command(0x10, cmdSN, write: false, lba: 16, blocks: 8, final: true));
        var readData = await rig.ReadAllAsync(rig.Lead, 0x10);
        Assert.True(readData.All(x => x == 0), "the read ran after the write that came after it in CmdSN order");
        var writeStatus = await b.ReceiveAsync() ?? throw new TimeoutException("no status for the held write");
        Assert.Equal(IscsiOpcode.ScsiResponse, writeStatus.Opcode);
        Assert.Equal(0x20u, writeStatus.InitiatorTaskTag);
        Assert.Equal(0, writeStatus.Bhs[3]); // GOOD
        Assert.Equal(cmdSN + 2, writeStatus.Field28); // ExpCmdSN: both commands counted, whichever connection carried them

        // And the data that waited with the command is what landed.
        rig.Lead.Send(Command(0x11, cmdSN + 2, write: false, lba: 16, blocks: 8, final: true));
        Assert.Equal(data, await rig.ReadAllAsync(rig.Lead, 0x11));
    }

    [Fact]
    public async Task Logout_naming_another_connection_closes_that_one_and_the_session_goes_on()
    {
        await using var rig = await Rig.StartAsync(targetMax: 4);
        var (b, _) = await rig.JoinAsync(cid: 1);
        await using var __ = b;
        rig.Lead.Send(Logout(0x30, rig.Lead.CmdSN, reason: 1, cid: 1));
        var response = await rig.Lead.ReceiveAsync() ?? throw new TimeoutException("no logout response");
        Assert.Equal(IscsiOpcode.LogoutResponse, response.Opcode);
        Assert.Equal(0, response.Bhs[2]); // closed successfully
        Assert.Null(await b.ReceiveAsync(TimeSpan.FromSeconds(5))); // B was closed by the target
        // The session lives on on A: a command still runs there.
        rig.Lead.Send(Command(0x31, rig.Lead.CmdSN, write: false, lba: 0, blocks: 1, final: true));
        Assert.Equal(512, (await rig.ReadAllAsync(rig.Lead, 0x31)).Length);
        Assert.Equal(1, rig.Target.SessionCount);
    }

    [Theory]
    [InlineData(2, 1, 1)] // level 2, no such connection: CID not found
    [InlineData(1, 1, 2)] // below level 2: connection recovery not supported
    public async Task Logout_for_recovery_is_answered_by_the_level_and_whether_the_CID_exists(int erl, ushort cid, byte expected)
    {
        await using var rig = await Rig.StartAsync(targetMax: 4, erl: erl);
        rig.Lead.Send(Logout(0x40, rig.Lead.CmdSN, reason: 2, cid: (ushort)(cid + 5)));
        var response = await rig.Lead.ReceiveAsync() ?? throw new TimeoutException("no logout response");
        Assert.Equal(IscsiOpcode.LogoutResponse, response.Opcode);
        Assert.Equal(expected, response.Bhs[2]);
        Assert.Equal(1, rig.Target.SessionCount);
    }

    [Fact]
    public async Task Logout_of_the_session_closes_every_connection()
    {
        await using var rig = await Rig.StartAsync(targetMax: 4);
        var (b, _) = await rig.JoinAsync(cid: 1);
        await using var __ = b;
        rig.Lead.Send(Logout(0x50, rig.Lead.CmdSN, reason: 0, cid: 0));
        var response = await rig.Lead.ReceiveAsync() ?? throw new TimeoutException("no logout response");
        Assert.Equal(0, response.Bhs[2]);
        Assert.Null(await b.ReceiveAsync(TimeSpan.FromSeconds(5)));
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (rig.Target.SessionCount != 0 && DateTime.UtcNow < deadline) await Task.Delay(20);
        Assert.Equal(0, rig.Target.SessionCount);
    }

    private static (byte, byte) LoginStatusOf(byte statusClass, byte detail) => (statusClass, detail);

    private static ushort Tsih(Pdu login) => (ushort)((login.Bhs[14] << 8) | login.Bhs[15]);

    private static Pdu Command(uint itt, uint cmdSN, bool write, uint lba, int blocks, bool final)
    {
        var pdu = new Pdu { Opcode = IscsiOpcode.ScsiCommand, InitiatorTaskTag = itt };
        pdu.Flags = (byte)((final ? 0x80 : 0) | (write ? 0x20 : 0x40) | 0x01);
        pdu.Field20 = (uint)(blocks * 512);
        pdu.Field24 = cmdSN;
        pdu.Bhs[32] = write ? (byte)0x2a : (byte)0x28;
        BinaryPrimitives.WriteUInt32BigEndian(pdu.Bhs.AsSpan(34), lba);
        BinaryPrimitives.WriteUInt16BigEndian(pdu.Bhs.AsSpan(39), (ushort)blocks);
        return pdu;
    }

    /// <summary>Unsolicited Data-Out: TTT 0xffffffff, DataSN 0, offset 0, F set.</summary>
    private static Pdu DataOut(uint itt, byte[] data)
    {
        var pdu = new Pdu { Opcode = IscsiOpcode.DataOut, Final = true, InitiatorTaskTag = itt, Field20 = Pdu.ReservedTag };
        pdu.SetData(data);
        return pdu;
    }

    private static Pdu Logout(uint itt, uint cmdSN, byte reason, ushort cid)
    {
        var pdu = new Pdu { Opcode = IscsiOpcode.LogoutRequest, Immediate = true, InitiatorTaskTag = itt };
        pdu.Flags = (byte)(0x80 | reason);
        pdu.Bhs[20] = (byte)(cid >> 8);
        pdu.Bhs[21] = (byte)cid;
        pdu.Field24 = cmdSN;
        return pdu;
    }

    private sealed class Rig : IAsyncDisposable
    {
        public required IscsiTarget Target { get; init; }
        public required IPEndPoint EndPoint { get; init; }
        public required RawIscsiConnection Lead { get; init; }
        public required Pdu LeadLogin { get; init; }
        public ushort Tsih => MultipleConnectionsWireTests.Tsih(LeadLogin);

        public static async Task<Rig> StartAsync(int targetMax, int erl = 2)
        {
            var log = new CapturedLog();
            var target = new IscsiTarget(new IscsiTargetOptions
            {
                NopInInterval = TimeSpan.Zero, MaxConnections = targetMax, ErrorRecoveryLevel = erl, InitialR2T = false, ImmediateData = false,
            }, log.Factory);
            var node = new TargetNode(Iqn);
            node.AddLun(0, new RamLogicalUnit(1024));
            target.AddNode(node);
            var listener = new TcpDatamoverListener(new IPEndPoint(IPAddress.Loopback, 0), log.Factory.CreateLogger("Iser.Tcp"));
            target.Listen(listener);
            var lead = await RawIscsiConnection.ConnectAsync(listener.LocalEndPoint);
            var login = await lead.LoginAsync(Iqn, Initiator,
                new TextKeyValue("MaxConnections", "8"), new TextKeyValue("ErrorRecoveryLevel", erl.ToString()),
                new TextKeyValue("InitialR2T", "No"), new TextKeyValue("ImmediateData", "No"),
                new TextKeyValue("HeaderDigest", "None"), new TextKeyValue("DataDigest", "None"));
            Assert.Equal(0, login.Bhs[36]);
            lead.CmdSN = login.Field28;
            return new Rig { Target = target, EndPoint = listener.LocalEndPoint, Lead = lead, LeadLogin = login };
        }

        /// <summary>A second connection logging into the session: its TSIH (or <paramref name="tsih"/>), the CID given.</summary>
        public async Task<(RawIscsiConnection Connection, Pdu Login)> JoinAsync(ushort cid, ushort? tsih = null)
        {
            var c = await RawIscsiConnection.ConnectAsync(EndPoint);
            c.CmdSN = Lead.CmdSN;
            var request = c.LoginRequest(transit: true, csg: 1, nsg: 3,
                [new("InitiatorName", Initiator), new("TargetName", Iqn), new("HeaderDigest", "None"), new("DataDigest", "None")], Isid);
            ushort t = tsih ?? Tsih;
            request.Bhs[14] = (byte)(t >> 8);
            request.Bhs[15] = (byte)t;
            request.Bhs[20] = (byte)(cid >> 8);
            request.Bhs[21] = (byte)cid;
            c.Send(request);
            var response = await c.ReceiveAsync() ?? throw new TimeoutException("no login response");
            return (c, response);
        }

        /// <summary>The read data of <paramref name="itt"/>, through the PDU carrying its status (which must be GOOD).</summary>
        public async Task<byte[]> ReadAllAsync(RawIscsiConnection c, uint itt)
        {
            var data = new List<byte>();
            while (true)
            {
                var pdu = await c.ReceiveAsync() ?? throw new TimeoutException($"no answer for 0x{itt:x8}");
                Assert.Equal(itt, pdu.InitiatorTaskTag);
                if (pdu.Opcode == IscsiOpcode.DataIn) data.AddRange(pdu.Data.ToArray());
                bool status = pdu.Opcode == IscsiOpcode.ScsiResponse || (pdu.Opcode == IscsiOpcode.DataIn && (pdu.Flags & 0x01) != 0);
                if (!status) continue;
                Assert.Equal(0, pdu.Opcode == IscsiOpcode.ScsiResponse ? pdu.Bhs[3] : pdu.Bhs[3]);
                c.CmdSN = pdu.Field28;
                return [.. data];
            }
        }

        public async ValueTask DisposeAsync()
        {
            await Lead.DisposeAsync();
            await Target.DisposeAsync();
        }
    }
}
