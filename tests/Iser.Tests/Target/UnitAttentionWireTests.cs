using System.Buffers.Binary;
using System.Net;
using Iser.Core.Iscsi.Pdus;
using Iser.Core.Iscsi.Target;
using Iser.Core.Scsi.Target;
using Iser.Core.Scsi.Target.Stores;
using Iser.Tests.Initiator;
using Iser.Transport.Tcp;

namespace Iser.Tests.Target;

/// <summary>
/// Unit attentions and the task management functions and reservation actions that raise them, through the target on
/// the wire: two sessions (two I_T nexuses) on one block logical unit; a write parked in the logical unit (its
/// unsolicited data never sent) stands for a command in flight. LOGICAL UNIT RESET tells every nexus (29h/03h); CLEAR
/// TASK SET ends the other initiator's task and tells it (2Fh/00h); PREEMPT AND ABORT ends the preempted initiator's
/// task before it completes and tells it (2Ah/05h); a LUN added to the running target is reported (3Fh/0Eh).
/// </summary>
public class UnitAttentionWireTests
{
    private const byte TestUnitReady = 0x00;

    [Fact]
    public async Task A_logical_unit_reset_is_reported_once_to_every_session_on_its_next_command()
    {
        await using var rig = await Rig.StartAsync();
        Assert.Equal(Good, await rig.First.ScsiAsync([TestUnitReady, 0, 0, 0, 0, 0]));
        Assert.Equal(Good, await rig.Second.ScsiAsync([TestUnitReady, 0, 0, 0, 0, 0]));
        Assert.Equal(0, await rig.Second.TaskManagementAsync(5)); // LOGICAL UNIT RESET: function complete
        Assert.Equal(Attention(0x29, 0x03), await rig.First.ScsiAsync([TestUnitReady, 0, 0, 0, 0, 0]));
        Assert.Equal(Good, await rig.First.ScsiAsync([TestUnitReady, 0, 0, 0, 0, 0]));
        Assert.Equal(Attention(0x29, 0x03), await rig.Second.ScsiAsync([TestUnitReady, 0, 0, 0, 0, 0]));
        Assert.Equal(Good, await rig.Second.ScsiAsync([TestUnitReady, 0, 0, 0, 0, 0]));
    }

    [Fact]
    public async Task Clear_task_set_ends_the_other_initiators_task_and_tells_it_commands_were_cleared()
    {
        await using var rig = await Rig.StartAsync();
        Assert.Equal(Good, await rig.Second.ScsiAsync([TestUnitReady, 0, 0, 0, 0, 0]));
        uint parked = rig.First.SendParkedWrite();
        await Task.Delay(200);
        Assert.Equal(0, await rig.Second.TaskManagementAsync(4)); // CLEAR TASK SET
        Assert.Equal(Attention(0x2f, 0x00), await rig.First.ScsiAsync([TestUnitReady, 0, 0, 0, 0, 0], skipItt: parked));
        Assert.Equal(Good, await rig.Second.ScsiAsync([TestUnitReady, 0, 0, 0, 0, 0])); // its own set: nothing to tell
    }

    [Fact]
    public async Task Preempt_and_abort_ends_the_preempted_initiators_task_and_tells_it_its_registration_went()
    {
        const ulong keyA = 0xA1, keyB = 0xB2;
        await using var rig = await Rig.StartAsync();
        Assert.Equal(Good, await rig.First.ScsiAsync(PrOut(0x00, 0), PrList(0, keyA)));   // REGISTER
        Assert.Equal(Good, await rig.Second.ScsiAsync(PrOut(0x00, 0), PrList(0, keyB)));
        Assert.Equal(Good, await rig.First.ScsiAsync(PrOut(0x01, 1), PrList(keyA, 0)));  // RESERVE, write exclusive
        uint parked = rig.First.SendParkedWrite();
        await Task.Delay(200);
        Assert.Empty(rig.Device.UnitAttentions.PendingFor(rig.FirstNexus));
        // PREEMPT AND ABORT of A's key: A's write ends before the PR OUT completes; A is told on its next command.
        Assert.Equal(Good, await rig.Second.ScsiAsync(PrOut(0x05, 1), PrList(keyB, keyA)));
        Assert.Equal(Attention(0x2a, 0x05), await rig.First.ScsiAsync([TestUnitReady, 0, 0, 0, 0, 0], skipItt: parked));
        // B holds the reservation now; A, unregistered, may not write.
        Assert.Equal((byte)0x18, (await rig.First.ScsiAsync(Write10(0, 1), new byte[512])).Status);
        Assert.Equal(Good, await rig.Second.ScsiAsync(Write10(0, 1), new byte[512]));
    }

    [Fact]
    public async Task A_lun_added_to_the_running_target_is_reported_and_report_luns_shows_it()
    {
        await using var rig = await Rig.StartAsync();
        Assert.Equal(Good, await rig.First.ScsiAsync([TestUnitReady, 0, 0, 0, 0, 0]));
        rig.Node.AddLun(1, new BlockDeviceLogicalUnit(new RamBackingStore(1 << 20), new BlockDeviceOptions { BlockSize = 512 }));
        Assert.Equal(Attention(0x3f, 0x0e), await rig.First.ScsiAsync([TestUnitReady, 0, 0, 0, 0, 0]));
        Assert.Equal(Good, await rig.First.ScsiAsync([TestUnitReady, 0, 0, 0, 0, 0]));
    }

    internal static readonly Outcome Good = new(0, 0, 0, 0);
    internal static Outcome Attention(byte asc, byte ascq) => new(0x02, 0x06, asc, ascq);

    internal readonly record struct Outcome(byte Status, byte Key, byte Asc, byte Ascq);

    internal static byte[] Write10(uint lba, ushort blocks)
    {
        var cdb = new byte[10];
        cdb[0] = 0x2a;
        BinaryPrimitives.WriteUInt32BigEndian(cdb.AsSpan(2), lba);
        BinaryPrimitives.WriteUInt16BigEndian(cdb.AsSpan(7), blocks);
        return cdb;
    }

    internal static byte[] PrOut(byte serviceAction, byte type) => [0x5F, serviceAction, type, 0, 0, 0, 0, 0, 24, 0];

    internal static byte[] PrList(ulong key, ulong serviceActionKey)
    {
        var list = new byte[24];
        BinaryPrimitives.WriteUInt64BigEndian(list, key);
        BinaryPrimitives.WriteUInt64BigEndian(list.AsSpan(8), serviceActionKey);
        return list;
    }

    /// <summary>One logged-in session driven PDU by PDU (shared with other wire tests).</summary>
    internal sealed class Session(RawIscsiConnection c)
    {
        private uint _nextItt = 0x100;

        /// <summary>A WRITE of one block announcing unsolicited data that never comes: it waits in the logical unit.</summary>
        public uint SendParkedWrite()
        {
            uint itt = _nextItt++;
            var pdu = Command(itt, Write10(0, 1), 512, write: true);
            pdu.Flags &= 0x7f; // F clear: unsolicited Data-Out would follow
            c.Send(pdu);
            return itt;
        }

        /// <summary>Runs one command (its data as immediate data) and returns its status and sense.</summary>
        public async Task<Outcome> ScsiAsync(byte[] cdb, byte[]? dataOut = null, uint? skipItt = null)
        {
            uint itt = _nextItt++;
            var pdu = Command(itt, cdb, dataOut?.Length ?? 0, write: dataOut is not null);
            if (dataOut is not null) pdu.SetData(dataOut);
            c.Send(pdu);
            while (await c.ReceiveAsync() is { } reply)
            {
                Assert.True(reply.InitiatorTaskTag != skipItt, "the parked write was answered although it was aborted");
                if (reply.Opcode != IscsiOpcode.ScsiResponse || reply.InitiatorTaskTag != itt) continue;
                c.CmdSN = reply.Field28;
                byte status = reply.Bhs[3];
                if (status != 0x02) return new Outcome(status, 0, 0, 0);
                var sense = reply.Data.Span[2..];
                return new Outcome(status, (byte)(sense[2] & 0x0f), sense[12], sense[13]);
            }
            throw new TimeoutException($"no SCSI Response for opcode 0x{cdb[0]:x2}");
        }

        public async Task<byte> TaskManagementAsync(byte function)
        {
            var pdu = new Pdu { Opcode = IscsiOpcode.TaskManagementRequest, Immediate = true };
            pdu.Flags = (byte)(0x80 | function);
            pdu.InitiatorTaskTag = 0x7000u + function;
            pdu.Field20 = Pdu.ReservedTag;
            pdu.Field24 = c.CmdSN;
            pdu.Field28 = c.ExpStatSN;
            c.Send(pdu);
            while (await c.ReceiveAsync() is { } reply)
                if (reply.Opcode == IscsiOpcode.TaskManagementResponse) return reply.Bhs[2];
            throw new TimeoutException($"no answer to task management function {function}");
        }

        private Pdu Command(uint itt, byte[] cdb, int length, bool write)
        {
            var pdu = new Pdu { Opcode = IscsiOpcode.ScsiCommand, InitiatorTaskTag = itt };
            pdu.Flags = (byte)(0x80 | (write ? 0x20 : length > 0 ? 0x40 : 0) | 0x01);
            pdu.Field20 = (uint)length;
            pdu.Field24 = c.CmdSN++;
            pdu.Field28 = c.ExpStatSN;
            cdb.CopyTo(pdu.Bhs.AsSpan(32));
            return pdu;
        }

        public ValueTask DisposeAsync() => c.DisposeAsync();

        /// <summary>Logs in to <paramref name="target"/> as <paramref name="initiator"/> (immediate data, no initial R2T).</summary>
        public static async Task<Session> LoginAsync(IPEndPoint endPoint, string initiator, string target, ulong isid)
        {
            var c = await RawIscsiConnection.ConnectAsync(endPoint);
            c.Send(c.LoginRequest(transit: true, csg: 1, nsg: 3,
                [new("InitiatorName", initiator), new("TargetName", target), new("ImmediateData", "Yes"), new("InitialR2T", "No")], isid));
            var response = await c.ReceiveAsync() ?? throw new TimeoutException("no login response");
            Assert.Equal(0, response.Bhs[36]);
            c.CmdSN = response.Field28;
            return new Session(c);
        }

        /// <summary>A command with data in: its status and the data.</summary>
        public async Task<(byte Status, byte[] Data)> ScsiInAsync(byte[] cdb, int length)
        {
            uint itt = _nextItt++;
            var pdu = Command(itt, cdb, length, write: false);
            c.Send(pdu);
            var data = new List<byte>();
            while (await c.ReceiveAsync() is { } reply)
            {
                if (reply.InitiatorTaskTag != itt) continue;
                if (reply.Opcode == IscsiOpcode.DataIn)
                {
                    data.AddRange(reply.Data.ToArray());
                    if ((reply.Flags & 0x01) == 0) continue; // no status in this Data-In
                    c.CmdSN = reply.Field28;
                    return (reply.Bhs[3], [.. data]);
                }
                if (reply.Opcode != IscsiOpcode.ScsiResponse) continue;
                c.CmdSN = reply.Field28;
                return (reply.Bhs[3], [.. data]);
            }
            throw new TimeoutException($"no SCSI Response for opcode 0x{cdb[0]:x2}");
        }
    }

    private sealed class Rig : IAsyncDisposable
    {
        public required IscsiTarget Target;
        public required TargetNode Node;
        public required BlockDeviceLogicalUnit Device;
        public required Session First;
        public required Session Second;
        public Core.Scsi.Target.Reservations.ItNexus FirstNexus => new("iqn.2026-12.org.iser.test:ua1", 0x400000000001, InProcessTarget.Iqn, 1, 1);

        public static async Task<Rig> StartAsync()
        {
            var target = new IscsiTarget(new IscsiTargetOptions { NopInInterval = TimeSpan.Zero });
            var device = new BlockDeviceLogicalUnit(new RamBackingStore(1 << 20), new BlockDeviceOptions { BlockSize = 512 });
            var node = new TargetNode(InProcessTarget.Iqn);
            node.AddLun(0, device);
            target.AddNode(node);
            var listener = new TcpDatamoverListener(new IPEndPoint(IPAddress.Loopback, 0), Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
            target.Listen(listener);
            var first = await LoginAsync(listener.LocalEndPoint, isid: 0x400000000001);
            var second = await LoginAsync(listener.LocalEndPoint, isid: 0x400000000002);
            return new Rig { Target = target, Node = node, Device = device, First = new Session(first), Second = new Session(second) };
        }

        private static async Task<RawIscsiConnection> LoginAsync(IPEndPoint endPoint, ulong isid)
        {
            var c = await RawIscsiConnection.ConnectAsync(endPoint);
            c.Send(c.LoginRequest(transit: true, csg: 1, nsg: 3,
                [new("InitiatorName", $"iqn.2026-12.org.iser.test:ua{isid & 0xf}"), new("TargetName", InProcessTarget.Iqn),
                 new("ImmediateData", "Yes"), new("InitialR2T", "No")], isid));
            var response = await c.ReceiveAsync() ?? throw new TimeoutException("no login response");
            Assert.Equal(0, response.Bhs[36]);
            c.CmdSN = response.Field28;
            return c;
        }

        public async ValueTask DisposeAsync()
        {
            await First.DisposeAsync();
            await Second.DisposeAsync();
            await Target.DisposeAsync();
        }
    }
}
