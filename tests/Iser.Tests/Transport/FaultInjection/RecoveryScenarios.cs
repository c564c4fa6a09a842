using System.Net;
using Iser.Core.Datamover;
using Iser.Core.Iscsi.Initiator;
using Iser.Core.Iscsi.Pdus;
using Iser.Core.Iscsi.Target;
using Iser.Tests.Initiator;
using Iser.Tests.Recovery;
using Iser.Tests.Transport.InMemory;
using Iser.Tests.Verbs;
using Iser.Transport.Iser.Datamover;
using Iser.Transport.Iser.Fallback;
using Iser.Transport.Tcp;

namespace Iser.Tests.Transport.FaultInjection;

/// <summary>
/// The recovery suite, one body per scenario, run over every transport: "memory" (in-memory, data placed as on iSER),
/// "tcp" (loopback) and "iser" (the soft-RoCE lab guest). Faults come from the fault-injecting datamover wrapped around
/// the initiator's real one, so each fires at a chosen PDU whatever carries it. Every scenario counts what the logical
/// unit executed (each command exactly once) and reads the data back.
/// </summary>
internal static class RecoveryScenarios
{
    public const string Memory = "memory", Tcp = "tcp", Iser = "iser";

    /// <summary>ERL 1: a SCSI Response lost on its way is asked for again (Status SNACK); the write ran once.</summary>
    public static async Task LostResponseIsAskedForAgain(string transport)
    {
        await using var rig = await Rig.StartAsync(transport, erl: 1);
        var rule = rig.Arm(FaultTarget.Received, IscsiOpcode.ScsiResponse, 3, Fault.Drop);
        var data = await rig.WriteManyAsync(16);
        Assert.True(rig.Faults.Plan.Fired(rule), "the rule never fired");
        Assert.True(rig.Session.SnacksSent + rig.Session.CommandRetries >= 1, "nothing asked for the lost status");
        Assert.Equal(0, rig.Session.ReconnectCount);
        Assert.Equal(16, rig.Writes);
        await rig.ReadBackAsync(data);
    }

    /// <summary>ERL 1: a SCSI Response delivered after the next one is taken in StatSN order.</summary>
    public static async Task ReorderedResponseIsTakenInOrder(string transport)
    {
        await using var rig = await Rig.StartAsync(transport, erl: 1);
        var rule = rig.Arm(FaultTarget.Received, IscsiOpcode.ScsiResponse, 2, Fault.Delay);
        var data = await rig.WriteManyAsync(16);
        Assert.True(rig.Faults.Plan.Fired(rule), "the rule never fired");
        Assert.Equal(0, rig.Session.ReconnectCount);
        Assert.Equal(16, rig.Writes);
        await rig.ReadBackAsync(data);
    }

    /// <summary>ERL 0: a connection killed at a response is logged in again and the unanswered commands re-issued.</summary>
    public static async Task KilledAtLevel0LogsInAgainAndReissues(string transport)
    {
        await using var rig = await Rig.StartAsync(transport, erl: 0);
        var rule = rig.Arm(FaultTarget.Received, IscsiOpcode.ScsiResponse, 5, Fault.KillConnection);
        var data = await rig.WriteManyAsync(16);
        Assert.True(rig.Faults.Plan.Fired(rule), "the rule never fired");
        Assert.Equal(1, rig.Session.ReconnectCount);
        Assert.Equal(2, rig.Faults.Connections.Count);
        await rig.ReadBackAsync(data);
    }

    /// <summary>
    /// ERL 2: the session's connection killed under 16 writes and 16 reads in flight is replaced by a new connection of
    /// the same session (same TSIH, no session login), which takes every outstanding command by TASK REASSIGN; every
    /// command ran once. With <paramref name="connections"/> above 1 the dead connection's commands go to the live ones
    /// and the session gets its connection back. Over a direct-placement transport (in-memory, iSER) both sides offer
    /// level 1 at most (RDMA placement is not taken over by another connection), so the same kill is recovered by a new
    /// session login that re-issues what was unanswered; the data still reads back equal.
    /// </summary>
    public static async Task KilledAtLevel2UnderMixedLoad(string transport, int connections)
    {
        bool direct = transport != Tcp;
        await using var rig = await Rig.StartAsync(transport, erl: 2, connections: connections, reconnect: direct);
        Assert.Equal(direct ? 1 : 2, rig.Session.Negotiated.ErrorRecoveryLevel);
        Assert.True(rig.Session.ConnectionCount == connections, $"{rig.Session.ConnectionCount} connections\n{rig.Log}");
        ushort tsih = rig.Session.Tsih;
        const int Workers = 16;
        var load = await MixedLoad.PrepareAsync(rig.Lun, Workers, blocks: 64);
        int writesBefore = rig.Writes, readsBefore = rig.Reads;
        // Dies when the 6th SCSI Response of the load arrives, with the rest of the writes and reads outstanding.
        var kill = rig.Arm(FaultTarget.Received, IscsiOpcode.ScsiResponse, 6, Fault.KillConnection);
        load.Start();
        var all = load.All;
        string Story() => $"\n{string.Join("\n", rig.Faults.Plan.Log)}\n{rig.Log}";
        await load.WaitAsync(TimeSpan.FromSeconds(90), () => $"the commands did not complete after the kill{Story()}");
        Assert.False(all.IsFaulted, $"{all.Exception?.InnerExceptions.Count} command(s) failed: {all.Exception?.InnerException?.Message}{Story()}");
        Assert.True(rig.Faults.Plan.Fired(kill), $"the kill never fired{Story()}");
        await load.VerifyAsync(Story);
        if (direct)
        {
            // Level 1: a new session (reinstatement) took the commands over; re-issued ones may have run twice.
            Assert.True(rig.Session.ReconnectCount == 1, $"{rig.Session.ReconnectCount} session recoveries{Story()}");
            Assert.True(rig.Session.ConnectionRecoveries == 0, $"{rig.Session.ConnectionRecoveries} connection recoveries{Story()}");
        }
        else
        {
            Assert.True(rig.Session.ConnectionRecoveries == 1, $"{rig.Session.ConnectionRecoveries} connection recoveries{Story()}");
            Assert.True(rig.Session.ReconnectCount == 0, $"{rig.Session.ReconnectCount} session recoveries{Story()}");
            Assert.Equal(tsih, rig.Session.Tsih);
            Assert.Equal(1, rig.Target.SessionCount);
            // Every command ran exactly once in the logical unit, whichever connection carried its answer (the read-back
            // above added one read per worker).
            Assert.True(rig.Writes - writesBefore == Workers, $"{rig.Writes - writesBefore} writes ran{Story()}");
            Assert.True(rig.Reads - readsBefore == 2 * Workers, $"{rig.Reads - readsBefore - Workers} reads ran{Story()}");
            Assert.Contains(rig.Log.Lines, l => l.Contains("reassigned to this connection"));
            // The session gets back to as many connections as it had: a new one takes the failed one's CID.
            for (int i = 0; i < 200 && rig.Session.ConnectionCount != connections; i++) await Task.Delay(50);
            Assert.True(rig.Session.ConnectionCount == connections, $"the session has {rig.Session.ConnectionCount} connections, not {connections}{Story()}");
            Assert.Equal(connections + 1, rig.Faults.Connections.Count);
        }
    }

    private sealed class Rig : IAsyncDisposable
    {
        public required IscsiTarget Target { get; init; }
        public required FaultInjectingTransport Faults { get; init; }
        public required IscsiSession Session { get; init; }
        public required CountingLogicalUnit Unit { get; init; }
        public required IscsiLun Lun { get; init; }
        public required CapturedLog Log { get; init; }
        public int Writes => Unit.Writes;
        public int Reads => Unit.Reads;

        public static async Task<Rig> StartAsync(string transport, int erl, int connections = 1, bool? reconnect = null)
        {
            var log = new CapturedLog();
            var target = CountingTarget.Create(new IscsiTargetOptions { NopInInterval = TimeSpan.Zero, MaxConnections = Math.Max(connections, 2) },
                log.Factory, out var unit);
            IInitiatorTransport inner;
            string host;
            int port;
            switch (transport)
            {
                case Memory:
                    var memory = new InMemoryTransport();
                    target.Listen(memory);
                    (inner, host, port) = (memory, InMemoryTransport.Host, memory.Port);
                    break;
                case Tcp:
                    var tcp = CountingTarget.ListenOnLoopback(target, log.Factory);
                    (inner, host, port) = (new TcpInitiatorTransport(), "127.0.0.1", tcp.LocalEndPoint.Port);
                    break;
                case Iser:
                    var iser = new IserDatamoverListener(new IPEndPoint(LabEnvironment.Address, 0), new IserOptions { QueueDepth = 128 },
                        log.Factory.CreateLogger("Iser.Iser"));
                    target.Listen(iser);
                    (inner, host, port) = (InitiatorTransports.Create(TransportKind.Iser, log.Factory), iser.LocalEndPoint.Address.ToString(), iser.LocalEndPoint.Port);
                    break;
                default:
                    throw new ArgumentException($"no transport '{transport}'", nameof(transport));
            }
            var faults = new FaultInjectingTransport(inner);
            bool slow = transport == Iser; // the TCG guest: generous bounds, so only a hang fails
            var options = new IscsiSessionOptions
            {
                Host = host, Port = port, TargetName = InProcessTarget.Iqn, ErrorRecoveryLevel = erl, MaxConnections = connections,
                NopInterval = TimeSpan.Zero, RecoveryTimeout = TimeSpan.FromSeconds(slow ? 10 : 2),
                LoginTimeout = TimeSpan.FromSeconds(slow ? 30 : 10), CommandTimeout = TimeSpan.FromSeconds(slow ? 120 : 30),
                LoggerFactory = log.Factory,
            };
            options.Reconnect.Enabled = reconnect ?? erl < 2; // at level 2 only connection recovery may save the commands
            try
            {
                var session = await IscsiSession.ConnectAsync(options, faults);
                var lun = await session.OpenLunAsync(0);
                return new Rig { Target = target, Faults = faults, Session = session, Unit = unit, Lun = lun, Log = log };
            }
            catch
            {
                await target.DisposeAsync();
                throw;
            }
        }

        /// <summary>Arms a fault at the <paramref name="nth"/> such PDU from now (what login and opening the LUN sent
        /// differs by transport: over iSER every command has a SCSI Response, over TCP a read's status rides its data).</summary>
        public FaultRule Arm(FaultTarget target, IscsiOpcode opcode, int nth, Fault fault)
        {
            var rule = new FaultRule(target, opcode, Faults.Plan.Seen(target, opcode) + nth, fault);
            Faults.Plan.Add(rule);
            return rule;
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
            Assert.True(await Task.WhenAny(all, Task.Delay(TimeSpan.FromSeconds(60))) == all,
                $"the writes did not complete\n{string.Join("\n", Faults.Plan.Log)}\n{Log}");
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
