using System.Collections.Concurrent;
using System.Diagnostics;
using Iser.Core.Iscsi.Initiator;
using Iser.Core.Iscsi.Target;
using Iser.Transport.Tcp;

namespace Iser.Tests.Initiator;

/// <summary>Keep-alive, pings, aborts, timeouts, dead and silent connections, and session recovery.</summary>
public class InitiatorFaultTests
{
    private static readonly TcpInitiatorTransport Tcp = new();

    private static byte[] RandomBytes(int length)
    {
        var data = new byte[length];
        Random.Shared.NextBytes(data);
        return data;
    }

    [Fact]
    public async Task Target_pings_during_io_are_answered_and_nothing_fails()
    {
        var log = new CapturedLog();
        await using var target = InProcessTarget.Start(new IscsiTargetOptions
        {
            NopInInterval = TimeSpan.FromMilliseconds(40), NopInTimeout = TimeSpan.FromSeconds(3), // generous: answers are counted below, and a loaded 2-core CI box can stall for hundreds of ms
        }, loggerFactory: log.Factory);
        var options = target.SessionOptions();
        options.NopInterval = TimeSpan.Zero; // our own keep-alive would stop the target from pinging
        options.Reconnect.Enabled = false;
        options.LoggerFactory = log.Factory;
        await using var session = await IscsiSession.ConnectAsync(options, Tcp);
        var lun = await session.OpenLunAsync(0);
        // Writes held inside the LU keep commands outstanding while the initiator sends nothing: the target pings.
        target.Unit.WriteGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var payloads = Enumerable.Range(0, 8).Select(_ => RandomBytes(8 * 512)).ToArray();
        var writes = payloads.Select((p, i) => lun.WriteAsync(i * 8, p).AsTask()).ToArray();
        await Task.Delay(1200);
        Assert.All(writes, w => Assert.False(w.IsCompleted));
        target.Unit.WriteGate.SetResult();
        await Task.WhenAll(writes).WaitAsync(TimeSpan.FromSeconds(10));
        for (int i = 0; i < 16; i++)
        {
            var back = new byte[8 * 512];
            await lun.ReadAsync((i % 8) * 8, back);
            Assert.Equal(payloads[i % 8], back);
            await Task.Delay(60); // idle gaps: more pings between commands
        }
        Assert.True(session.TargetPingsAnswered >= 5, $"the target pinged {session.TargetPingsAnswered} times\n{log}");
        Assert.Equal(IscsiSessionState.LoggedIn, session.State);
        Assert.Equal(0, session.ReconnectCount);
    }

    [Theory]
    [InlineData(true)]  // NOP-Out asking for a reply
    [InlineData(false)] // one-way NOP-Out, ITT = TTT = 0xffffffff
    public async Task Idle_keep_alive_outlives_the_target_idle_check(bool wantReply)
    {
        var log = new CapturedLog(Microsoft.Extensions.Logging.LogLevel.Trace);
        await using var target = InProcessTarget.Start(new IscsiTargetOptions
        {
            NopInInterval = TimeSpan.FromMilliseconds(1000), NopInTimeout = TimeSpan.FromMilliseconds(500),
        }, loggerFactory: log.Factory);
        var options = target.SessionOptions();
        options.LoggerFactory = log.Factory;
        options.NopInterval = TimeSpan.FromMilliseconds(100);
        options.NopTimeout = wantReply ? TimeSpan.FromMilliseconds(800) : TimeSpan.Zero;
        options.Reconnect.Enabled = false;
        await using var session = await IscsiSession.ConnectAsync(options, Tcp);
        var lun = await session.OpenLunAsync(0);
        int pingsBefore = session.TargetPingsAnswered; // the target's idle clock may start before login ends
        int nopOutsBefore = TargetReceivedNopOuts(log);
        await Task.Delay(3000); // idle for three times the target's idle interval
        int keepAlives = TargetReceivedNopOuts(log) - nopOutsBefore;
        // About one every 100 ms reached the target; a machine this busy may stall a few of them, not most.
        Assert.True(keepAlives >= 10, $"{keepAlives} keep-alive NOP-Outs reached the target in 3 s");
        // Without them the target would have pinged about twice; a stall of a whole second may cause one.
        Assert.True(session.TargetPingsAnswered - pingsBefore <= 1, $"the target pinged {session.TargetPingsAnswered - pingsBefore} times");
        var data = RandomBytes(512);
        await lun.WriteAsync(3, data);
        var back = new byte[512];
        await lun.ReadAsync(3, back);
        Assert.Equal(data, back);
        Assert.Equal(IscsiSessionState.LoggedIn, session.State);
        Assert.Equal(0, session.ReconnectCount);
    }

    private static int TargetReceivedNopOuts(CapturedLog log) =>
        log.Lines.Count(l => l.Contains("Iser.Target.Pdu: <- NopOut", StringComparison.Ordinal));

    [Fact]
    public async Task Silent_target_is_detected_within_the_nop_timeout()
    {
        await using var target = InProcessTarget.Start(new IscsiTargetOptions { NopInInterval = TimeSpan.Zero });
        await using var proxy = new FaultProxy(target.Port);
        var options = target.SessionOptions(proxy.Port);
        options.NopInterval = TimeSpan.FromMilliseconds(500);
        options.NopTimeout = TimeSpan.FromMilliseconds(1000);
        options.Reconnect.Enabled = false;
        await using var session = await IscsiSession.ConnectAsync(options, Tcp);
        var lun = await session.OpenLunAsync(0);

        proxy.Freeze();
        var clock = Stopwatch.StartNew();
        var pingError = await Assert.ThrowsAsync<IscsiConnectionException>(() => session.PingAsync(TimeSpan.FromMilliseconds(200)));
        Assert.Contains("did not answer the NOP-Out ping within 0.2 s", pingError.Message);

        var error = await Assert.ThrowsAsync<IscsiConnectionException>(async () => await lun.ReadAsync(0, new byte[512]).AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
        clock.Stop();
        // Idle for NopInterval, then NopTimeout without an answer: about 1.5 s after the target fell silent.
        Assert.Contains("did not answer a NOP-Out ping within 1 s", error.Message);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3.5), $"detected after {clock.Elapsed}");
        Assert.Equal(IscsiSessionState.Failed, session.State);
    }

    [Fact]
    public async Task Broken_connection_without_recovery_fails_outstanding_commands_clearly()
    {
        await using var target = InProcessTarget.Start();
        await using var proxy = new FaultProxy(target.Port);
        var options = target.SessionOptions(proxy.Port);
        options.Reconnect.Enabled = false;
        await using var session = await IscsiSession.ConnectAsync(options, Tcp);
        var lun = await session.OpenLunAsync(0);
        target.Unit.WriteGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var writes = Enumerable.Range(0, 4).Select(i => lun.WriteAsync(i, new byte[512]).AsTask()).ToArray();
        await Task.Delay(200);
        proxy.KillConnections();
        foreach (var w in writes)
        {
            var error = await Assert.ThrowsAsync<IscsiConnectionException>(() => w.WaitAsync(TimeSpan.FromSeconds(10)));
            Assert.Contains("was lost", error.Message);
        }
        Assert.Equal(IscsiSessionState.Failed, session.State);
        await Assert.ThrowsAsync<IscsiConnectionException>(async () => await lun.ReadAsync(0, new byte[512]));
        target.Unit.WriteGate.SetResult();
    }

    [Fact]
    public async Task Killing_the_connection_under_load_loses_no_acknowledged_write()
    {
        var log = new CapturedLog();
        await using var target = InProcessTarget.Start(blocks: 65536, loggerFactory: log.Factory);
        await using var proxy = new FaultProxy(target.Port);
        var options = target.SessionOptions(proxy.Port);
        options.Reconnect.ReplacementTimeout = TimeSpan.FromSeconds(20);
        options.LoggerFactory = log.Factory;
        await using var session = await IscsiSession.ConnectAsync(options, Tcp);
        var lun = await session.OpenLunAsync(0);

        var acknowledged = new ConcurrentDictionary<long, byte[]>();
        using var stop = new CancellationTokenSource();
        const int Workers = 32;
        var workers = Enumerable.Range(0, Workers).Select(w => Task.Run(async () =>
        {
            // Each worker writes each of its LBAs once, so a re-issued (repeated) write can only repeat the same data.
            for (long slot = w; (slot + 1) * 16 <= lun.BlockCount && !stop.IsCancellationRequested; slot += Workers)
            {
                long lba = slot * 16; // 16-block slots: no two writes overlap
                int blocks = 1 + (int)(slot % 16);
                var data = RandomBytes(blocks * 512);
                await lun.WriteAsync(lba, data);
                acknowledged[lba] = data;
            }
        })).ToArray();

        await Task.Delay(300);
        proxy.KillConnections();
        // Kill the second connection only once it is up and carrying I/O again.
        for (int i = 0; i < 200 && session.ReconnectCount < 1; i++) await Task.Delay(50);
        await Task.Delay(300);
        proxy.KillConnections();
        for (int i = 0; i < 200 && session.ReconnectCount < 2; i++) await Task.Delay(50);
        await Task.Delay(200);
        stop.Cancel();
        try
        {
            await Task.WhenAll(workers).WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch (Exception e)
        {
            throw new Xunit.Sdk.XunitException($"{e}\n{log}");
        }
        Assert.True(session.ReconnectCount >= 2, $"reconnected {session.ReconnectCount} times\n{log}");
        Assert.True(acknowledged.Count > 64, $"only {acknowledged.Count} writes were acknowledged");
        foreach (var (lba, data) in acknowledged)
        {
            var back = new byte[data.Length];
            await lun.ReadAsync(lba, back);
            Assert.True(data.AsSpan().SequenceEqual(back), $"LBA {lba} reads back what was written");
        }
    }

    [Fact]
    public async Task Recovery_gives_up_after_the_replacement_timeout()
    {
        await using var target = InProcessTarget.Start();
        var proxy = new FaultProxy(target.Port);
        var options = target.SessionOptions(proxy.Port);
        options.Reconnect.ReplacementTimeout = TimeSpan.FromSeconds(1);
        await using var session = await IscsiSession.ConnectAsync(options, Tcp);
        var lun = await session.OpenLunAsync(0);
        target.Unit.WriteGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var write = lun.WriteAsync(0, new byte[512]).AsTask();
        await Task.Delay(100);
        await proxy.DisposeAsync(); // the portal disappears: every new login attempt is refused
        var clock = Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<IscsiConnectionException>(() => write.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Contains("could not be re-established within 1 s", error.Message);
        Assert.InRange(clock.Elapsed, TimeSpan.FromMilliseconds(700), TimeSpan.FromSeconds(5));
        target.Unit.WriteGate.SetResult();
    }

    [Fact]
    public async Task Cancelling_a_command_aborts_it_at_the_target()
    {
        await using var target = InProcessTarget.Start();
        await using var session = await IscsiSession.ConnectAsync(target.SessionOptions(), Tcp);
        var lun = await session.OpenLunAsync(0);
        target.Unit.WriteGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await lun.WriteAsync(5, RandomBytes(512), cts.Token));
        Assert.Equal(1, target.Unit.CancelledCommands); // ABORT TASK reached the logical unit
        target.Unit.WriteGate = null;
        var data = RandomBytes(1024);
        await lun.WriteAsync(5, data);
        var back = new byte[1024];
        await lun.ReadAsync(5, back);
        Assert.Equal(data, back);
        Assert.Equal(0, session.OutstandingCommands);
    }

    [Fact]
    public async Task Command_timeout_aborts_and_reports_in_words()
    {
        await using var target = InProcessTarget.Start();
        var options = target.SessionOptions();
        options.CommandTimeout = TimeSpan.FromMilliseconds(300);
        await using var session = await IscsiSession.ConnectAsync(options, Tcp);
        var lun = await session.OpenLunAsync(0);
        target.Unit.WriteGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var error = await Assert.ThrowsAsync<IscsiCommandTimeoutException>(async () => await lun.WriteAsync(1, new byte[512]));
        Assert.Contains("within 0.3 s and was aborted", error.Message);
        Assert.Equal(1, target.Unit.CancelledCommands);
        target.Unit.WriteGate = null;
        await lun.WriteAsync(1, new byte[512]);
    }

    [Fact]
    public async Task Disposing_with_commands_in_flight_ends_them_and_does_not_hang()
    {
        await using var target = InProcessTarget.Start();
        var options = target.SessionOptions();
        options.ManagementTimeout = TimeSpan.FromSeconds(1); // the target holds the logout until its (stuck) commands end
        var session = await IscsiSession.ConnectAsync(options, Tcp);
        var lun = await session.OpenLunAsync(0);
        target.Unit.WriteGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var writes = Enumerable.Range(0, 8).Select(i => lun.WriteAsync(i, new byte[512]).AsTask()).ToArray();
        await Task.Delay(100);
        var clock = Stopwatch.StartNew();
        await session.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(4), $"dispose took {clock.Elapsed}");
        foreach (var w in writes)
        {
            var error = await Assert.ThrowsAsync<IscsiException>(() => w.WaitAsync(TimeSpan.FromSeconds(5)));
            Assert.Contains("logged out", error.Message);
        }
        Assert.Equal(IscsiSessionState.LoggedOut, session.State);
        target.Unit.WriteGate.SetResult();
    }

    [Fact]
    public async Task Target_shutdown_asks_for_logout_and_the_session_logs_out()
    {
        var target = InProcessTarget.Start(new IscsiTargetOptions { LogoutGracePeriod = TimeSpan.FromSeconds(5) });
        await using var session = await IscsiSession.ConnectAsync(target.SessionOptions(), Tcp);
        var lun = await session.OpenLunAsync(0);
        var clock = Stopwatch.StartNew();
        await target.DisposeAsync();
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(4), $"the target waited {clock.Elapsed} for the logout");
        // The target is gone once it sent the Logout Response and closed; the session records it on its receive
        // thread, which a loaded machine may run a moment later.
        var settle = Stopwatch.StartNew();
        while (session.State != IscsiSessionState.LoggedOut && settle.Elapsed < TimeSpan.FromSeconds(2)) await Task.Delay(10);
        Assert.Equal(IscsiSessionState.LoggedOut, session.State);
        Assert.Contains("target's request", session.FailureReason);
        var error = await Assert.ThrowsAsync<IscsiException>(async () => await lun.ReadAsync(0, new byte[512]));
        Assert.Contains("target's request", error.Message);
    }
}
