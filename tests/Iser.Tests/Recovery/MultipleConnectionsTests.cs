using Iser.Core.Iscsi.Initiator;
using Iser.Core.Iscsi.Pdus;
using Iser.Core.Iscsi.Target;
using Iser.Tests.Initiator;
using Iser.Transport.Tcp;

namespace Iser.Tests.Recovery;

/// <summary>
/// Multiple connections per session (MC/S, RFC 7143 §4.3, §6.2.2): our initiator and target through a proxy that sees
/// each connection. The session opens as many connections as both sides allow and spreads its commands over them; at
/// ErrorRecoveryLevel 2 one connection killed under load hands its commands to the others (Logout for recovery, TASK
/// REASSIGN), every command completes exactly once, the data reads back equal and the session gets its connection back;
/// below level 2 the session starts over (reinstatement) and re-issues them.
/// </summary>
public class MultipleConnectionsTests
{
    private static readonly TcpInitiatorTransport Tcp = new();

    [Theory]
    [InlineData(4, 8, 4)]
    [InlineData(4, 2, 2)] // the target's lower offer wins
    [InlineData(1, 8, 1)] // an initiator that offers 1 gets 1
    public async Task The_session_opens_as_many_connections_as_both_sides_allow_and_spreads_commands_over_them(int offered, int targetMax, int expected)
    {
        await using var rig = await Rig.StartAsync(offered, targetMax, erl: 0);
        Assert.Equal(expected, rig.Session.Negotiated.MaxConnections);
        Assert.Equal(expected, rig.Session.ConnectionCount);
        Assert.Equal(expected, rig.Proxy.AcceptedConnections);
        Assert.Equal(1, rig.Target.SessionCount);

        var lun = await rig.Session.OpenLunAsync(0);
        var data = new byte[64][];
        var writes = new List<Task>();
        for (int i = 0; i < data.Length; i++)
        {
            data[i] = new byte[8 * 512];
            Random.Shared.NextBytes(data[i]);
            writes.Add(lun.WriteAsync(i * 8, data[i]).AsTask());
        }
        await Task.WhenAll(writes);
        var back = new byte[data.Length][];
        var reads = new List<Task>();
        for (int i = 0; i < data.Length; i++)
        {
            back[i] = new byte[8 * 512];
            reads.Add(lun.ReadAsync(i * 8, back[i]).AsTask());
        }
        await Task.WhenAll(reads);
        for (int i = 0; i < data.Length; i++) Assert.True(data[i].AsSpan().SequenceEqual(back[i]), $"block run {i} read back differently");

        // Every connection carried commands (taken in turn), and all of them are SCSI commands of one session.
        var perConnection = rig.Proxy.CountPerConnection(Direction.ToTarget, IscsiOpcode.ScsiCommand);
        Assert.Equal(expected, perConnection.Length);
        Assert.All(perConnection, n => Assert.True(n >= 128 / expected / 2, $"commands per connection: {string.Join(", ", perConnection)}"));
        Assert.True(perConnection.Sum() >= 129, $"commands per connection: {string.Join(", ", perConnection)}");
    }

    [Theory]
    [InlineData(0)] // the connection reads its own commands' data ...
    [InlineData(1)] // ... or another's (the kill hits whichever carries the 6th Data-In)
    public async Task With_four_connections_at_level_2_one_killed_under_load_hands_its_commands_to_the_others(int killAt)
    {
        await using var rig = await Rig.StartAsync(offered: 4, targetMax: 8, erl: 2);
        Assert.True(rig.Session.ConnectionCount == 4, $"{rig.Session.ConnectionCount} connections\n{rig.Log}");
        ushort tsih = rig.Session.Tsih;
        var lun = await rig.Session.OpenLunAsync(0);

        const int Workers = 24;
        var load = await MixedLoad.PrepareAsync(lun, Workers, blocks: 64);
        int writesBefore = rig.Writes, readsBefore = rig.Reads;
        var kill = new FaultRule(Direction.ToInitiator, IscsiOpcode.DataIn, 6 + killAt, FaultAction.KillConnection);
        rig.Proxy.Add(kill);
        load.Start();
        await load.WaitAsync(TimeSpan.FromSeconds(40),
            () => $"the commands did not complete after one connection was killed\n{string.Join("\n", rig.Proxy.Log)}\n{rig.Log}");
        await load.All;

        string story = $"\n{string.Join("\n", rig.Proxy.Log)}\n{rig.Log}";
        Assert.True(rig.Proxy.Fired(kill) == 1, $"the kill fired {rig.Proxy.Fired(kill)} times{story}");
        Assert.True(rig.Session.ConnectionRecoveries == 1, $"{rig.Session.ConnectionRecoveries} connection recoveries{story}");
        Assert.True(rig.Session.ReconnectCount == 0, $"{rig.Session.ReconnectCount} session recoveries{story}");
        Assert.Equal(tsih, rig.Session.Tsih);
        Assert.Equal(1, rig.Target.SessionCount);
        // Every command ran exactly once in the logical unit, whichever connection carried its answer.
        Assert.True(rig.Writes - writesBefore == Workers, $"{rig.Writes - writesBefore} writes ran{story}");
        Assert.True(rig.Reads - readsBefore == Workers, $"{rig.Reads - readsBefore} reads ran{story}");
        await load.VerifyAsync();
        // The target let go of the connection, and the commands moved by TASK REASSIGN (not run again as new ones).
        Assert.Contains(rig.Log.Lines, l => l.Contains("lost connection") || l.Contains("logging out connection"));
        Assert.Contains(rig.Log.Lines, l => l.Contains("reassigned to this connection"));
        Assert.Contains(rig.Log.Lines, l => l.Contains("reassigning") && l.Contains("command(s) to connection"));
        // The session gets back to four connections: a new one takes the failed one's CID.
        await Until(() => rig.Session.ConnectionCount == 4, $"the session did not get its fourth connection back{story}");
        Assert.True(rig.Proxy.AcceptedConnections == 5, $"{rig.Proxy.AcceptedConnections} connections accepted{story}");
    }

    [Fact]
    public async Task With_four_connections_below_level_2_one_killed_starts_the_session_over_and_reissues_the_commands()
    {
        await using var rig = await Rig.StartAsync(offered: 4, targetMax: 8, erl: 0, reconnect: true);
        Assert.Equal(4, rig.Session.ConnectionCount);
        var lun = await rig.Session.OpenLunAsync(0);
        var kill = new FaultRule(Direction.ToInitiator, IscsiOpcode.ScsiResponse, 10, FaultAction.KillConnection);
        rig.Proxy.Add(kill);
        var data = new byte[32][];
        var work = new List<Task>();
        for (int i = 0; i < data.Length; i++)
        {
            data[i] = new byte[16 * 512];
            Random.Shared.NextBytes(data[i]);
            work.Add(lun.WriteAsync(i * 16, data[i]).AsTask());
        }
        var all = Task.WhenAll(work);
        Assert.True(await Task.WhenAny(all, Task.Delay(TimeSpan.FromSeconds(40))) == all,
            $"the writes did not complete after one connection was killed\n{string.Join("\n", rig.Proxy.Log)}\n{rig.Log}");
        await all;
        Assert.Equal(1, rig.Proxy.Fired(kill));
        Assert.Equal(1, rig.Session.ReconnectCount);
        Assert.Equal(0, rig.Session.ConnectionRecoveries);
        for (int i = 0; i < data.Length; i++)
        {
            var back = new byte[16 * 512];
            await lun.ReadAsync(i * 16, back);
            Assert.True(data[i].AsSpan().SequenceEqual(back), $"write {i} did not land");
        }
        await Until(() => rig.Session.ConnectionCount == 4, "the new session did not get its four connections");
        Assert.Equal(1, rig.Target.SessionCount);
    }

    /// <summary>
    /// The same over the in-memory transport, whose data moves as on iSER (placed directly, no R2T or Data-In), so
    /// recovery stops at level 1: one of four connections broken under writes, the session starts over.
    /// </summary>
    [Fact]
    public async Task Over_direct_placement_four_connections_spread_commands_and_one_broken_starts_the_session_over()
    {
        var log = new CapturedLog();
        await using var target = InProcessTarget.Start(blockDevice: true, transport: InProcessTarget.Memory, loggerFactory: log.Factory);
        var options = target.SessionOptions();
        options.MaxConnections = 4;
        options.ErrorRecoveryLevel = 2; // direct placement caps it at 1
        options.LoggerFactory = log.Factory;
        await using var session = await IscsiSession.ConnectAsync(options, target.InitiatorTransport);
        Assert.Equal(1, session.Negotiated.ErrorRecoveryLevel);
        Assert.True(4 == session.ConnectionCount, $"{session.ConnectionCount} connection(s), MaxConnections {session.Negotiated.MaxConnections}\n{log}");
        var lun = await session.OpenLunAsync(0);
        var data = new byte[48][];
        var work = new List<Task>();
        for (int i = 0; i < data.Length; i++)
        {
            data[i] = new byte[16 * 512];
            Random.Shared.NextBytes(data[i]);
            work.Add(lun.WriteAsync(i * 16, data[i]).AsTask());
            if (i == 20) target.InMemory!.Connections[2].Kill("broken by the test");
        }
        var all = Task.WhenAll(work);
        Assert.True(await Task.WhenAny(all, Task.Delay(TimeSpan.FromSeconds(40))) == all, $"the writes did not complete\n{log}");
        await all;
        // Over memory the writes may all be answered before the loss is handled: the session starts over all the same.
        await Until(() => session.ReconnectCount == 1, $"the session did not start over\n{log}");
        for (int i = 0; i < data.Length; i++)
        {
            var back = new byte[16 * 512];
            await lun.ReadAsync(i * 16, back);
            Assert.True(data[i].AsSpan().SequenceEqual(back), $"write {i} did not land");
        }
        await Until(() => session.ConnectionCount == 4, "the new session did not get its four connections");
        // Below level 2 the session went with the broken connection: all four of the first session are closed.
        Assert.All(target.InMemory!.Connections.Take(4), c => Assert.True(c.IsClosed));
    }

    [Fact]
    public async Task Logout_closes_every_connection_of_the_session()
    {
        await using var rig = await Rig.StartAsync(offered: 3, targetMax: 8, erl: 2);
        Assert.Equal(3, rig.Session.ConnectionCount);
        var lun = await rig.Session.OpenLunAsync(0);
        await lun.WriteAsync(0, new byte[4096]);
        await rig.Session.LogoutAsync();
        await Until(() => rig.Target.SessionCount == 0, "the target still has the session after logout");
        Assert.Equal(IscsiSessionState.LoggedOut, rig.Session.State);
        Assert.Equal(0, rig.Session.ConnectionRecoveries);
    }

    private static async Task Until(Func<bool> condition, string failure)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, failure);
            await Task.Delay(20);
        }
    }

    private sealed class Rig : IAsyncDisposable
    {
        public required IscsiTarget Target { get; init; }
        public required PduFaultProxy Proxy { get; init; }
        public required IscsiSession Session { get; init; }
        public required CountingLogicalUnit Unit { get; init; }
        public required CapturedLog Log { get; init; }
        public int Reads => Unit.Reads;
        public int Writes => Unit.Writes;

        public static async Task<Rig> StartAsync(int offered, int targetMax, int erl, bool reconnect = false)
        {
            var log = new CapturedLog();
            var target = CountingTarget.Create(new IscsiTargetOptions { NopInInterval = TimeSpan.Zero, MaxConnections = targetMax }, log.Factory, out var unit);
            var listener = CountingTarget.ListenOnLoopback(target, log.Factory);
            var proxy = new PduFaultProxy(listener.LocalEndPoint.Port);
            var options = new IscsiSessionOptions
            {
                Host = "127.0.0.1",
                Port = proxy.Port,
                TargetName = InProcessTarget.Iqn,
                ErrorRecoveryLevel = erl,
                MaxConnections = offered,
                NopInterval = TimeSpan.Zero,
                RecoveryTimeout = TimeSpan.FromSeconds(2),
                CommandTimeout = TimeSpan.FromSeconds(60),
                LoggerFactory = log.Factory,
            };
            options.Reconnect.Enabled = reconnect; // at level 2 only connection recovery may save the commands
            try
            {
                var session = await IscsiSession.ConnectAsync(options, Tcp);
                return new Rig { Target = target, Proxy = proxy, Session = session, Unit = unit, Log = log };
            }
            catch
            {
                await proxy.DisposeAsync();
                await target.DisposeAsync();
                throw;
            }
        }

        public async ValueTask DisposeAsync()
        {
            await Session.DisposeAsync();
            await Proxy.DisposeAsync();
            await Target.DisposeAsync();
        }
    }
}
