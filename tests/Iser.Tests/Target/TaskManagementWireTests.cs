using System.Net;
using Iser.Core.Iscsi.Pdus;
using Iser.Core.Iscsi.Target;
using Iser.Tests.Initiator;
using Iser.Transport.Tcp;

namespace Iser.Tests.Target;

/// <summary>
/// Task management functions 2, 3 and 4 (RFC 7143 §11.5.1, SAM-5 §7): ABORT TASK SET ends the tasks of the asking
/// I_T nexus only, CLEAR TASK SET those of every initiator on the logical unit, CLEAR ACA none (we never establish
/// ACA). Two sessions each hold a WRITE parked in the logical unit; the function comes from the second.
/// </summary>
public class TaskManagementWireTests
{
    private sealed class Rig : IAsyncDisposable
    {
        public required IscsiTarget Target;
        public required RamLogicalUnit Unit;
        public required RawIscsiConnection First;
        public required RawIscsiConnection Second;

        public static async Task<Rig> StartAsync()
        {
            var target = new IscsiTarget(new IscsiTargetOptions { NopInInterval = TimeSpan.Zero });
            var unit = new RamLogicalUnit(1024) { WriteGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) };
            var node = new TargetNode(InProcessTarget.Iqn);
            node.AddLun(0, unit);
            target.AddNode(node);
            var listener = new TcpDatamoverListener(new IPEndPoint(IPAddress.Loopback, 0), Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
            target.Listen(listener);
            var first = await LoginAsync(listener.LocalEndPoint, isid: 0x400000000001);
            var second = await LoginAsync(listener.LocalEndPoint, isid: 0x400000000002);
            return new Rig { Target = target, Unit = unit, First = first, Second = second };
        }

        private static async Task<RawIscsiConnection> LoginAsync(IPEndPoint endPoint, ulong isid)
        {
            var c = await RawIscsiConnection.ConnectAsync(endPoint);
            c.Send(c.LoginRequest(transit: true, csg: 1, nsg: 3,
                [new("InitiatorName", $"iqn.2026-12.org.iser.test:tmf{isid & 0xf}"), new("TargetName", InProcessTarget.Iqn),
                 new("ImmediateData", "Yes"), new("InitialR2T", "No")], isid));
            var response = await c.ReceiveAsync() ?? throw new TimeoutException("no login response");
            Assert.Equal(0, response.Bhs[36]); // status class: success
            c.CmdSN = response.Field28;
            return c;
        }

        public async ValueTask DisposeAsync()
        {
            Unit.WriteGate?.TrySetResult();
            await First.DisposeAsync();
            await Second.DisposeAsync();
            await Target.DisposeAsync();
        }
    }

    /// <summary>A WRITE (10) of one block carried as immediate data: it parks in the logical unit on its write gate.</summary>
    private static void SendParkedWrite(RawIscsiConnection c, uint itt)
    {
        var pdu = new Pdu { Opcode = IscsiOpcode.ScsiCommand, Final = true };
        pdu.Flags = 0x80 | 0x20 | 0x01; // F, W, SIMPLE
        pdu.InitiatorTaskTag = itt;
        pdu.Field20 = 512;
        pdu.Field24 = c.CmdSN++;
        pdu.Field28 = c.ExpStatSN;
        pdu.Bhs[32] = 0x2a;
        pdu.Bhs[39] = 0;
        pdu.Bhs[40] = 1; // one block at LBA 0
        pdu.SetData(new byte[512]);
        c.Send(pdu);
    }

    private static async Task<byte> TaskManagementAsync(RawIscsiConnection c, byte function)
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

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        for (var clock = System.Diagnostics.Stopwatch.StartNew(); !condition(); await Task.Delay(10))
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"{what} did not happen within 5 s");
    }

    [Fact]
    public async Task Abort_task_set_ends_only_the_asking_nexus_tasks()
    {
        await using var rig = await Rig.StartAsync();
        SendParkedWrite(rig.First, 0x10);
        SendParkedWrite(rig.Second, 0x20);
        await Task.Delay(200); // both parked in the logical unit
        Assert.Equal(0, await TaskManagementAsync(rig.Second, 2)); // Function complete
        await WaitUntilAsync(() => rig.Unit.CancelledCommands == 1, "the second session's write being aborted");
        await Task.Delay(200);
        Assert.Equal(1, rig.Unit.CancelledCommands); // the first session's write is still parked
    }

    [Fact]
    public async Task Clear_task_set_ends_every_initiators_tasks_on_the_logical_unit()
    {
        await using var rig = await Rig.StartAsync();
        SendParkedWrite(rig.First, 0x10);
        SendParkedWrite(rig.Second, 0x20);
        await Task.Delay(200);
        Assert.Equal(0, await TaskManagementAsync(rig.Second, 4));
        await WaitUntilAsync(() => rig.Unit.CancelledCommands == 2, "both sessions' writes being aborted");
    }

    [Fact]
    public async Task Clear_aca_aborts_nothing()
    {
        await using var rig = await Rig.StartAsync();
        SendParkedWrite(rig.First, 0x10);
        SendParkedWrite(rig.Second, 0x20);
        await Task.Delay(200);
        Assert.Equal(0, await TaskManagementAsync(rig.Second, 3));
        await Task.Delay(300);
        Assert.Equal(0, rig.Unit.CancelledCommands);
    }
}
