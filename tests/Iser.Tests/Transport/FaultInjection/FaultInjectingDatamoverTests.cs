using System.Net;
using Iser.Core.Datamover;
using Iser.Core.Iscsi.Initiator;
using Iser.Core.Iscsi.Pdus;
using Iser.Core.Iscsi.Target;
using Iser.Core.Scsi.Target;
using Iser.Core.Scsi.Target.Stores;
using Iser.Tests.Initiator;
using Iser.Tests.Recovery;
using Iser.Tests.Transport.InMemory;
using Iser.Transport.Tcp;

namespace Iser.Tests.Transport.FaultInjection;

/// <summary>
/// Recovery through the fault-injecting datamover, the same tests over TCP and over the in-memory transport (whose data
/// moves as on iSER): at ErrorRecoveryLevel 1 a SCSI Response lost on its way is asked for again (Status SNACK) and one
/// delivered out of order is taken in order; every command ran once in the logical unit and the data reads back equal.
/// At level 0 a connection killed at a chosen PDU is logged in again and the unanswered commands are re-issued.
/// </summary>
public class FaultInjectingDatamoverTests
{
    public static TheoryData<string> Transports => new() { "tcp", "memory" };

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task A_lost_scsi_response_is_asked_for_again_and_the_write_ran_once(string transport)
    {
        await using var rig = await Rig.StartAsync(transport, erl: 1);
        var rule = new FaultRule(FaultTarget.Received, IscsiOpcode.ScsiResponse, 3, Fault.Drop);
        rig.Faults.Plan.Add(rule);
        var data = await rig.WriteManyAsync(16);
        Assert.True(rig.Faults.Plan.Fired(rule), "the rule never fired");
        Assert.True(rig.Session.SnacksSent + rig.Session.CommandRetries >= 1, "nothing asked for the lost status");
        Assert.Equal(0, rig.Session.ReconnectCount);
        Assert.Equal(16, rig.Writes);
        await rig.ReadBackAsync(data);
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task A_scsi_response_delivered_after_the_next_one_is_taken_in_order(string transport)
    {
        await using var rig = await Rig.StartAsync(transport, erl: 1);
        var rule = new FaultRule(FaultTarget.Received, IscsiOpcode.ScsiResponse, 2, Fault.Delay);
        rig.Faults.Plan.Add(rule);
        var data = await rig.WriteManyAsync(16);
        Assert.True(rig.Faults.Plan.Fired(rule), "the rule never fired");
        Assert.Equal(0, rig.Session.ReconnectCount);
        Assert.Equal(16, rig.Writes);
        await rig.ReadBackAsync(data);
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task At_level_0_a_connection_killed_at_a_response_logs_in_again_and_reissues(string transport)
    {
        await using var rig = await Rig.StartAsync(transport, erl: 0);
        var rule = new FaultRule(FaultTarget.Received, IscsiOpcode.ScsiResponse, 5, Fault.KillConnection);
        rig.Faults.Plan.Add(rule);
        var data = await rig.WriteManyAsync(16);
        Assert.True(rig.Faults.Plan.Fired(rule), "the rule never fired");
        Assert.Equal(1, rig.Session.ReconnectCount);
        Assert.Equal(2, rig.Faults.Connections.Count);
        await rig.ReadBackAsync(data);
    }

    private sealed class Rig : IAsyncDisposable
    {
        public required IscsiTarget Target { get; init; }
        public required FaultInjectingTransport Faults { get; init; }
        public required IscsiSession Session { get; init; }
        public required CountingLogicalUnit Unit { get; init; }
        public required IscsiLun Lun { get; init; }
        public int Writes => Unit.Executed(0x2a) + Unit.Executed(0x8a);

        public static async Task<Rig> StartAsync(string transport, int erl)
        {
            var target = new IscsiTarget(new IscsiTargetOptions { NopInInterval = TimeSpan.Zero });
            var unit = new CountingLogicalUnit(new BlockDeviceLogicalUnit(new RamBackingStore(8 << 20), new BlockDeviceOptions { BlockSize = 512 }));
            var node = new TargetNode(InProcessTarget.Iqn);
            node.AddLun(0, unit);
            target.AddNode(node);
            IInitiatorTransport inner;
            string host;
            int port;
            if (transport == "memory")
            {
                var memory = new InMemoryTransport();
                target.Listen(memory);
                (inner, host, port) = (memory, InMemoryTransport.Host, memory.Port);
            }
            else
            {
                var listener = new TcpDatamoverListener(new IPEndPoint(IPAddress.Loopback, 0), Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
                target.Listen(listener);
                (inner, host, port) = (new TcpInitiatorTransport(), "127.0.0.1", listener.LocalEndPoint.Port);
            }
            var faults = new FaultInjectingTransport(inner);
            var options = new IscsiSessionOptions
            {
                Host = host, Port = port, TargetName = InProcessTarget.Iqn, ErrorRecoveryLevel = erl,
                NopInterval = TimeSpan.Zero, RecoveryTimeout = TimeSpan.FromSeconds(2), CommandTimeout = TimeSpan.FromSeconds(30),
            };
            var session = await IscsiSession.ConnectAsync(options, faults);
            var lun = await session.OpenLunAsync(0);
            return new Rig { Target = target, Faults = faults, Session = session, Unit = unit, Lun = lun };
        }

        /// <summary>Writes <paramref name="count"/> runs of 8 blocks at once; returns what each wrote.</summary>
        public async Task<byte[][]> WriteManyAsync(int count)
        {
            var data = new byte[count][];
            var writes = new List<Task>();
            for (int i = 0; i < count; i++)
            {
                data[i] = new byte[8 * 512];
                Random.Shared.NextBytes(data[i]);
                writes.Add(Lun.WriteAsync(i * 8, data[i]).AsTask());
            }
            var all = Task.WhenAll(writes);
            Assert.True(await Task.WhenAny(all, Task.Delay(TimeSpan.FromSeconds(30))) == all,
                $"the writes did not complete\n{string.Join("\n", Faults.Plan.Log)}");
            await all;
            return data;
        }

        public async Task ReadBackAsync(byte[][] data)
        {
            for (int i = 0; i < data.Length; i++)
            {
                var back = new byte[8 * 512];
                await Lun.ReadAsync(i * 8, back);
                Assert.True(data[i].AsSpan().SequenceEqual(back), $"write {i} did not land");
            }
        }

        public async ValueTask DisposeAsync()
        {
            await Session.DisposeAsync();
            await Target.DisposeAsync();
        }
    }
}
