using Iser.Core.Iscsi.Initiator;
using Iser.Core.Iscsi.Target;
using Iser.Tests.Initiator;
using Iser.Transport.Tcp;

namespace Iser.Tests.Recovery;

/// <summary>
/// ErrorRecoveryLevel 2 end to end (RFC 7143 §6.2.2, §7.1.4): our initiator and target through a proxy that kills the
/// connection under load. The session survives (same TSIH, no new session login), a new connection joins it, every
/// outstanding command is reassigned (TASK REASSIGN) and completes exactly once, and the data reads back equal.
/// </summary>
public class ErrorRecoveryLevel2Tests
{
    private static readonly TcpInitiatorTransport Tcp = new();

    [Fact]
    public async Task A_connection_killed_under_mixed_load_is_replaced_and_every_command_completes_once()
    {
        var log = new CapturedLog();
        await using var target = CountingTarget.Create(new IscsiTargetOptions { NopInInterval = TimeSpan.Zero }, log.Factory, out var unit);
        var listener = CountingTarget.ListenOnLoopback(target, log.Factory);
        await using var proxy = new PduFaultProxy(listener.LocalEndPoint.Port);
        var options = new IscsiSessionOptions
        {
            Host = "127.0.0.1",
            Port = proxy.Port,
            TargetName = InProcessTarget.Iqn,
            ErrorRecoveryLevel = 2,
            NopInterval = TimeSpan.Zero,
            RecoveryTimeout = TimeSpan.FromSeconds(2),
            CommandTimeout = TimeSpan.FromSeconds(60),
            LoggerFactory = log.Factory,
        };
        options.Reconnect.Enabled = false; // only connection recovery (ERL 2) may save these commands
        await using var session = await IscsiSession.ConnectAsync(options, Tcp);
        Assert.Equal(2, session.Negotiated.ErrorRecoveryLevel);
        ushort tsih = session.Tsih;
        var lun = await session.OpenLunAsync(0);

        // 16 writers and 16 readers of 64 KiB each, over their own LBAs; the blocks the readers read were written first.
        const int Workers = 16;
        var load = await MixedLoad.PrepareAsync(lun, Workers, blocks: 128);
        int writesBefore = unit.Writes, readsBefore = unit.Reads;
        // The connection dies in the middle of the read data, with writes and reads outstanding.
        var kill = new FaultRule(Direction.ToInitiator, Iser.Core.Iscsi.Pdus.IscsiOpcode.DataIn, 6, FaultAction.KillConnection);
        proxy.Add(kill);
        load.Start();
        await load.WaitAsync(TimeSpan.FromSeconds(40),
            () => $"the commands did not complete after the connection was killed\n{string.Join("\n", proxy.Log)}\n{log}");
        await load.All;

        Assert.Equal(1, proxy.Fired(kill));
        Assert.Equal(1, session.ConnectionRecoveries);
        Assert.Equal(0, session.ReconnectCount);
        Assert.Equal(tsih, session.Tsih);
        Assert.Equal(2, proxy.AcceptedConnections);
        Assert.Equal(1, target.SessionCount);
        // Every command ran exactly once in the logical unit, whichever connection carried its answer.
        Assert.Equal(Workers, unit.Writes - writesBefore);
        Assert.Equal(Workers, unit.Reads - readsBefore);
        await load.VerifyAsync();
        Assert.Contains(log.Lines, l => l.Contains("reassigned to this connection"));
    }

    /// <summary>One command, the connection killed at one chosen PDU of it: the command completes once, on the new connection.</summary>
    [Theory]
    [InlineData("R2T: a write waiting for its data", true, Iser.Core.Iscsi.Pdus.IscsiOpcode.ReadyToTransfer, false)]
    [InlineData("SCSI Response: a write whose status was on its way", true, Iser.Core.Iscsi.Pdus.IscsiOpcode.ScsiResponse, false)]
    [InlineData("first Data-In: a read sending its data", false, Iser.Core.Iscsi.Pdus.IscsiOpcode.DataIn, false)]
    [InlineData("the Data-In carrying the status: a read whose data and status were sent", false, Iser.Core.Iscsi.Pdus.IscsiOpcode.DataIn, true)]
    public async Task A_connection_killed_at_one_pdu_of_a_command_is_replaced_and_the_command_completes_once(string at, bool write,
        Iser.Core.Iscsi.Pdus.IscsiOpcode opcode, bool statusPdu)
    {
        var log = new CapturedLog();
        await using var target = CountingTarget.Create(new IscsiTargetOptions { NopInInterval = TimeSpan.Zero }, log.Factory, out var unit);
        var listener = CountingTarget.ListenOnLoopback(target, log.Factory);
        await using var proxy = new PduFaultProxy(listener.LocalEndPoint.Port);
        var options = new IscsiSessionOptions
        {
            Host = "127.0.0.1", Port = proxy.Port, TargetName = InProcessTarget.Iqn, ErrorRecoveryLevel = 2,
            NopInterval = TimeSpan.Zero, RecoveryTimeout = TimeSpan.FromSeconds(5), LoggerFactory = log.Factory,
            ImmediateData = false, InitialR2T = true, // every byte of a write by R2T: the first R2T comes before any data
        };
        options.Reconnect.Enabled = false;
        await using var session = await IscsiSession.ConnectAsync(options, Tcp);
        var lun = await session.OpenLunAsync(0);
        var data = new byte[512 * 1024];
        Random.Shared.NextBytes(data);
        if (!write) await lun.WriteAsync(100, data);
        int before = write ? unit.Writes : unit.Reads;
        var rule = new FaultRule(Direction.ToInitiator, opcode, 1, FaultAction.KillConnection) { Match = statusPdu ? bhs => (bhs.Span[1] & 0x01) != 0 : null };
        proxy.Add(rule);
        var back = new byte[data.Length];
        var work = write ? lun.WriteAsync(100, data).AsTask() : lun.ReadAsync(100, back).AsTask();
        Assert.True(await Task.WhenAny(work, Task.Delay(TimeSpan.FromSeconds(30))) == work,
            $"the command killed at the {at} did not complete\n{string.Join("\n", proxy.Log)}\n{log}");
        await work;

        Assert.Equal(1, proxy.Fired(rule));
        Assert.Equal(1, session.ConnectionRecoveries);
        Assert.Equal(1, (write ? unit.Writes : unit.Reads) - before);
        if (write) await lun.ReadAsync(100, back);
        Assert.True(data.AsSpan().SequenceEqual(back), $"the data after recovery at the {at} differs");
        // Taken over by TASK REASSIGN, not run again as a new command.
        Assert.Contains(log.Lines, l => l.Contains("reassigned to this connection"));
    }
}
