using Iser.Core.Iscsi.Initiator;
using Iser.Core.Iscsi.Pdus;
using Iser.Core.Iscsi.Target;
using Iser.Core.Scsi;
using Iser.Core.Scsi.Initiator;
using Iser.Tests.Initiator;
using Iser.Transport.Tcp;

namespace Iser.Tests.Recovery;

/// <summary>
/// ErrorRecoveryLevel 1 end to end: our initiator and our target over TCP with digests on, through a proxy that drops
/// or corrupts one chosen PDU (RFC 7143 §6, §7). Each fault must be recovered inside the connection (no new login),
/// the data must read back equal, and the logical unit must have executed each command exactly once.
/// </summary>
public class ErrorRecoveryLevel1Tests
{
    private static readonly TcpInitiatorTransport Tcp = new();
    private const int CompareAndWrite = 0x89;

    /// <summary>Target (our SBC block device behind a counter) + fault proxy + an ERL 1 session with digests, through the proxy.</summary>
    private sealed class Rig : IAsyncDisposable
    {
        public required IscsiTarget Target;
        public required CountingLogicalUnit Unit;
        public required PduFaultProxy Proxy;
        public required IscsiSession Session;
        public required IscsiLun Lun;
        public required CapturedLog Log;

        public static async Task<Rig> StartAsync(TimeSpan? recoveryTimeout = null, int targetErl = 1, int initiatorErl = 1)
        {
            var log = new CapturedLog();
            var target = CountingTarget.Create(new IscsiTargetOptions { NopInInterval = TimeSpan.Zero, ErrorRecoveryLevel = targetErl }, log.Factory, out var unit);
            var listener = CountingTarget.ListenOnLoopback(target, log.Factory);
            var proxy = new PduFaultProxy(listener.LocalEndPoint.Port);
            var options = new IscsiSessionOptions
            {
                Host = "127.0.0.1",
                Port = proxy.Port,
                TargetName = InProcessTarget.Iqn,
                HeaderDigest = "CRC32C",
                DataDigest = "CRC32C",
                ErrorRecoveryLevel = initiatorErl,
                RecoveryTimeout = recoveryTimeout ?? TimeSpan.FromMilliseconds(500),
                CommandTimeout = TimeSpan.FromSeconds(30),
                NopInterval = TimeSpan.Zero,
                LoggerFactory = log.Factory,
            };
            options.Reconnect.Enabled = false;
            var session = await IscsiSession.ConnectAsync(options, Tcp);
            var lun = await session.OpenLunAsync(0);
            return new Rig { Target = target, Unit = unit, Proxy = proxy, Session = session, Lun = lun, Log = log };
        }

        /// <summary>READ (10) and READ (16) executed by the logical unit; WRITE likewise.</summary>
        public int Reads => Unit.Reads;
        public int Writes => Unit.Writes;

        public string Show() => $"proxy:\n{string.Join("\n", Proxy.Log)}\nlog:\n{Log}";

        public async ValueTask DisposeAsync()
        {
            await Session.DisposeAsync();
            await Proxy.DisposeAsync();
            await Target.DisposeAsync();
        }
    }

    private static byte[] RandomBytes(int length)
    {
        var data = new byte[length];
        Random.Shared.NextBytes(data);
        return data;
    }

    private static bool HasStatus(ReadOnlyMemory<byte> bhs) => (bhs.Span[1] & 0x01) != 0;

    private static async Task<T> Within<T>(Task<T> work, string what, Rig rig, int seconds = 20)
    {
        var done = await Task.WhenAny(work, Task.Delay(TimeSpan.FromSeconds(seconds)));
        Assert.True(done == work, $"{what} did not finish within {seconds} s\n{rig.Show()}");
        try { return await work; }
        catch (Exception e) { throw new Xunit.Sdk.XunitException($"{what} failed: {e.Message}\n{rig.Show()}"); }
    }

    private static Task Within(Task work, string what, Rig rig, int seconds = 20) =>
        Within(work.ContinueWith(t => { t.GetAwaiter().GetResult(); return true; }), what, rig, seconds);

    [Fact]
    public async Task Both_sides_settle_on_level_1_and_a_peer_offering_0_gets_0()
    {
        await using (var rig = await Rig.StartAsync())
            Assert.Equal(1, rig.Session.Negotiated.ErrorRecoveryLevel);
        await using (var rig = await Rig.StartAsync(targetErl: 0))
            Assert.Equal(0, rig.Session.Negotiated.ErrorRecoveryLevel);
        await using (var rig = await Rig.StartAsync(initiatorErl: 0))
            Assert.Equal(0, rig.Session.Negotiated.ErrorRecoveryLevel);
    }

    [Fact]
    public async Task A_data_in_failing_its_digest_is_asked_for_again_and_the_read_returns_the_right_bytes()
    {
        await using var rig = await Rig.StartAsync();
        var data = RandomBytes(1024 * 1024);
        await rig.Lun.WriteAsync(0, data);
        var rule = new FaultRule(Direction.ToInitiator, IscsiOpcode.DataIn, 2, FaultAction.CorruptData);
        rig.Proxy.Add(rule);
        var back = new byte[data.Length];
        await Within(rig.Lun.ReadAsync(0, back).AsTask(), "the read", rig);

        Assert.Equal(1, rig.Proxy.Fired(rule));
        Assert.True(data.AsSpan().SequenceEqual(back), "the read returned the bytes written");
        Assert.True(rig.Proxy.Count(Direction.ToTarget, IscsiOpcode.SnackRequest) >= 1, rig.Show());
        Assert.Contains(rig.Log.Lines, l => l.Contains("failed its data digest") && l.Contains("asking for DataSN"));
        Assert.Equal(1, rig.Reads);
        Assert.Equal(0, rig.Session.ReconnectCount);
        Assert.Equal(1, rig.Proxy.AcceptedConnections);
    }

    [Fact]
    public async Task A_dropped_data_in_is_asked_for_again_and_the_read_returns_the_right_bytes()
    {
        await using var rig = await Rig.StartAsync(recoveryTimeout: TimeSpan.FromSeconds(20));
        var data = RandomBytes(1024 * 1024);
        await rig.Lun.WriteAsync(0, data);
        var rule = new FaultRule(Direction.ToInitiator, IscsiOpcode.DataIn, 2, FaultAction.Drop);
        rig.Proxy.Add(rule);
        var back = new byte[data.Length];
        await Within(rig.Lun.ReadAsync(0, back).AsTask(), "the read", rig, seconds: 10);

        Assert.Equal(1, rig.Proxy.Fired(rule));
        Assert.True(data.AsSpan().SequenceEqual(back), "the read returned the bytes written");
        // Found by the DataSN gap at once (a Data SNACK), not by the 20 s retry.
        Assert.Equal(0, rig.Session.CommandRetries);
        Assert.True(rig.Session.SnacksSent >= 1, rig.Show());
        Assert.Equal(1, rig.Reads);
        Assert.Equal(0, rig.Session.ReconnectCount);
    }

    [Fact]
    public async Task A_dropped_last_data_in_carrying_the_status_is_recovered_by_a_retry_that_does_not_read_twice()
    {
        await using var rig = await Rig.StartAsync();
        var data = RandomBytes(64 * 1024);
        await rig.Lun.WriteAsync(64, data);
        var rule = new FaultRule(Direction.ToInitiator, IscsiOpcode.DataIn, 1, FaultAction.Drop) { Match = HasStatus };
        rig.Proxy.Add(rule);
        var back = new byte[data.Length];
        await Within(rig.Lun.ReadAsync(64, back).AsTask(), "the read", rig);

        Assert.Equal(1, rig.Proxy.Fired(rule));
        Assert.True(data.AsSpan().SequenceEqual(back));
        Assert.True(rig.Session.CommandRetries >= 1, rig.Show());
        Assert.Equal(1, rig.Reads);
        Assert.Contains(rig.Log.Lines, l => l.Contains("already ran; sending its data and status again"));
    }

    [Fact]
    public async Task A_data_out_failing_its_digest_is_asked_for_again_by_a_recovery_r2t_and_the_bytes_read_back_equal()
    {
        await using var rig = await Rig.StartAsync();
        var data = RandomBytes(1024 * 1024);
        var rule = new FaultRule(Direction.ToTarget, IscsiOpcode.DataOut, 2, FaultAction.CorruptData);
        rig.Proxy.Add(rule);
        int r2tBefore = rig.Proxy.Count(Direction.ToInitiator, IscsiOpcode.ReadyToTransfer);
        await Within(rig.Lun.WriteAsync(128, data).AsTask(), "the write", rig);

        Assert.Equal(1, rig.Proxy.Fired(rule));
        Assert.Contains(rig.Log.Lines, l => l.Contains("Asking again for the data from offset"));
        var back = new byte[data.Length];
        await rig.Lun.ReadAsync(128, back);
        Assert.True(data.AsSpan().SequenceEqual(back), "the bytes read back equal those written");
        Assert.True(rig.Proxy.Count(Direction.ToInitiator, IscsiOpcode.ReadyToTransfer) - r2tBefore >= 2, rig.Show());
        Assert.Equal(1, rig.Writes);
        Assert.Equal(0, rig.Session.ReconnectCount);
    }

    [Fact]
    public async Task A_dropped_data_out_is_asked_for_again_after_the_command_is_retried()
    {
        // The target sees the gap when the next Data-Out of the sequence arrives ahead of where it stands, drops the rest
        // of that sequence and asks for it again by a recovery R2T (were it the sequence's last, the command's retry
        // would find the stalled sequence instead).
        await using var rig = await Rig.StartAsync();
        var data = RandomBytes(1024 * 1024);
        var rule = new FaultRule(Direction.ToTarget, IscsiOpcode.DataOut, 2, FaultAction.Drop);
        rig.Proxy.Add(rule);
        await Within(rig.Lun.WriteAsync(2048, data).AsTask(), "the write", rig);

        Assert.Equal(1, rig.Proxy.Fired(rule));
        Assert.Contains(rig.Log.Lines, l => l.Contains("a Data-Out was lost; asking again"));
        var back = new byte[data.Length];
        await rig.Lun.ReadAsync(2048, back);
        Assert.True(data.AsSpan().SequenceEqual(back), "the bytes read back equal those written");
        Assert.Equal(1, rig.Writes);
        Assert.Equal(0, rig.Session.ReconnectCount);
    }

    [Fact]
    public async Task A_dropped_last_data_out_of_a_sequence_is_found_by_the_retry_and_asked_for_again()
    {
        // Nothing follows the lost PDU in its sequence, so only the command's retry reveals it: the target then asks
        // again for the data of the sequence that stalled (one that merely moved slowly is left alone).
        await using var rig = await Rig.StartAsync();
        var data = RandomBytes(1024 * 1024);
        var rule = new FaultRule(Direction.ToTarget, IscsiOpcode.DataOut, 1, FaultAction.Drop) { Match = bhs => (bhs.Span[1] & 0x80) != 0 };
        rig.Proxy.Add(rule);
        await Within(rig.Lun.WriteAsync(3072, data).AsTask(), "the write", rig);

        Assert.Equal(1, rig.Proxy.Fired(rule));
        Assert.True(rig.Session.CommandRetries >= 1, rig.Show());
        Assert.Contains(rig.Log.Lines, l => l.Contains("is still running") && l.Contains("asked for again"));
        var back = new byte[data.Length];
        await rig.Lun.ReadAsync(3072, back);
        Assert.True(data.AsSpan().SequenceEqual(back), "the bytes read back equal those written");
        Assert.Equal(1, rig.Writes);
    }

    [Fact]
    public async Task A_dropped_write_response_arrives_after_recovery_and_the_write_ran_once()
    {
        await using var rig = await Rig.StartAsync();
        var data = RandomBytes(8192);
        var rule = new FaultRule(Direction.ToInitiator, IscsiOpcode.ScsiResponse, 1, FaultAction.Drop);
        rig.Proxy.Add(rule);
        await Within(rig.Lun.WriteAsync(256, data).AsTask(), "the write", rig);

        Assert.Equal(1, rig.Proxy.Fired(rule));
        Assert.Equal(1, rig.Writes);
        Assert.True(rig.Session.CommandRetries >= 1, rig.Show());
        var back = new byte[data.Length];
        await rig.Lun.ReadAsync(256, back);
        Assert.True(data.AsSpan().SequenceEqual(back));
    }

    [Fact]
    public async Task A_dropped_compare_and_write_response_is_resent_not_re_executed()
    {
        // Executed twice, the second COMPARE AND WRITE would miscompare (the block already holds the new data) and end
        // in CHECK CONDITION: GOOD after recovery, and a count of one, prove it ran once.
        await using var rig = await Rig.StartAsync();
        var old = RandomBytes(512);
        var @new = RandomBytes(512);
        await rig.Lun.WriteAsync(300, old);
        var rule = new FaultRule(Direction.ToInitiator, IscsiOpcode.ScsiResponse, 1, FaultAction.Drop);
        rig.Proxy.Add(rule);
        var cdb = new byte[16];
        CdbBuilder.CompareAndWrite(cdb, 300, 1);
        var response = await Within(rig.Session.ExecuteAsync(ScsiCommand.Write(0, cdb, old.Concat(@new).ToArray())).AsTask(), "COMPARE AND WRITE", rig);

        Assert.Equal(1, rig.Proxy.Fired(rule));
        Assert.Equal(ScsiStatus.Good, response.Status);
        Assert.Equal(1, rig.Unit.Executed(CompareAndWrite));
        var back = new byte[512];
        await rig.Lun.ReadAsync(300, back);
        Assert.True(@new.AsSpan().SequenceEqual(back));
    }

    [Fact]
    public async Task A_status_gap_is_asked_for_at_once_by_status_snack()
    {
        // The retry timer is far off: only the StatSN gap the next response reveals can recover the first write quickly.
        await using var rig = await Rig.StartAsync(recoveryTimeout: TimeSpan.FromSeconds(20));
        var first = RandomBytes(4096);
        var second = RandomBytes(4096);
        var rule = new FaultRule(Direction.ToInitiator, IscsiOpcode.ScsiResponse, 1, FaultAction.Drop);
        rig.Proxy.Add(rule);
        var a = rig.Lun.WriteAsync(400, first).AsTask();
        await Task.Delay(200);
        var b = rig.Lun.WriteAsync(500, second).AsTask();
        await Within(Task.WhenAll(a, b), "both writes", rig, seconds: 10);

        Assert.Equal(1, rig.Proxy.Fired(rule));
        Assert.Equal(0, rig.Session.CommandRetries);
        Assert.Contains(rig.Log.Lines, l => l.Contains("asking for the status in between again"));
        Assert.Equal(2, rig.Writes);
    }

    [Fact]
    public async Task A_command_discarded_for_its_header_digest_is_retried_and_runs_once()
    {
        await using var rig = await Rig.StartAsync();
        var data = RandomBytes(4096);
        var rule = new FaultRule(Direction.ToTarget, IscsiOpcode.ScsiCommand, 1, FaultAction.CorruptHeader);
        rig.Proxy.Add(rule);
        await Within(rig.Lun.WriteAsync(600, data).AsTask(), "the write", rig);

        Assert.Equal(1, rig.Proxy.Fired(rule));
        Assert.Contains(rig.Log.Lines, l => l.Contains("Header digest error") && l.Contains("discarded"));
        Assert.True(rig.Session.CommandRetries >= 1, rig.Show());
        Assert.Equal(1, rig.Writes);
        var back = new byte[data.Length];
        await rig.Lun.ReadAsync(600, back);
        Assert.True(data.AsSpan().SequenceEqual(back));
        Assert.Equal(0, rig.Session.ReconnectCount);
    }

    [Fact]
    public async Task Reads_longer_than_a_burst_are_acknowledged_by_data_ack()
    {
        await using var rig = await Rig.StartAsync();
        var data = RandomBytes(4 * 1024 * 1024);
        await rig.Lun.WriteAsync(1024, data);
        int before = rig.Proxy.Count(Direction.ToTarget, IscsiOpcode.SnackRequest);
        var back = new byte[data.Length];
        await rig.Lun.ReadAsync(1024, back);
        Assert.True(data.AsSpan().SequenceEqual(back));
        // 4 MiB in 1 MiB bursts: the target asks a DataACK at the end of each burst but the last (A bit), and each is answered
        // (the last DataACK may still be on its way through the proxy when the read returns).
        int acks = 0;
        for (var clock = System.Diagnostics.Stopwatch.StartNew(); clock.Elapsed < TimeSpan.FromSeconds(5); await Task.Delay(20))
            if ((acks = rig.Proxy.Count(Direction.ToTarget, IscsiOpcode.SnackRequest) - before) >= 3) break;
        await Task.Delay(100);
        Assert.Equal(3, rig.Proxy.Count(Direction.ToTarget, IscsiOpcode.SnackRequest) - before);
        Assert.Equal(0, rig.Proxy.DigestErrors);
    }
}
