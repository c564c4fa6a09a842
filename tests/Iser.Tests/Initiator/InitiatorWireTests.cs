using System.Buffers.Binary;
using Iser.Core.Iscsi.Initiator;
using Iser.Core.Iscsi.Pdus;
using Iser.Core.Iscsi.Text;
using Iser.Transport.Tcp;

namespace Iser.Tests.Initiator;

/// <summary>The initiator's PDUs checked byte by byte against RFC 7143, with a scripted target on the other end.</summary>
public class InitiatorWireTests
{
    private static readonly TcpInitiatorTransport Tcp = new();

    private static async Task<(ScriptedTarget Target, IscsiSession Session)> ConnectAsync(Action<IscsiSessionOptions>? configure = null,
        int queueDepth = 16, params TextKeyValue[] answers)
    {
        var target = new ScriptedTarget();
        var options = new IscsiSessionOptions
        {
            Port = target.Port, TargetName = "iqn.2026-11.org.iser.test:scripted", NopInterval = TimeSpan.Zero,
            Reconnect = new ReconnectOptions { Enabled = false },
            ManagementTimeout = TimeSpan.FromMilliseconds(500), // the scripted target never answers the logout at dispose
        };
        configure?.Invoke(options);
        var login = target.AcceptLoginAsync(queueDepth, answers);
        var session = IscsiSession.ConnectAsync(options, Tcp);
        await login;
        return (target, await session);
    }

    private static byte[] Read10(uint lba, ushort blocks)
    {
        var cdb = new byte[10];
        cdb[0] = 0x28;
        BinaryPrimitives.WriteUInt32BigEndian(cdb.AsSpan(2), lba);
        BinaryPrimitives.WriteUInt16BigEndian(cdb.AsSpan(7), blocks);
        return cdb;
    }

    [Fact]
    public async Task Target_ping_is_echoed_at_once_without_consuming_a_StatSN()
    {
        var (target, session) = await ConnectAsync();
        await using var scripted = target;
        await using var live = session;
        uint statSN = target.StatSN; // the next StatSN; the login consumed the ones before
        var ping = new Pdu { Opcode = IscsiOpcode.NopIn, Flags = 0x80, Lun = 0x0001000000000000, InitiatorTaskTag = Pdu.ReservedTag, Field20 = 0x4242 };
        ping.Field24 = statSN; // a ping carries the next StatSN without consuming it
        target.Send(ping);

        var echo = await target.ReceiveAsync();
        Assert.NotNull(echo);
        Assert.Equal(IscsiOpcode.NopOut, echo!.Opcode);
        Assert.True(echo.Immediate);
        Assert.True(echo.Final);
        Assert.Equal(Pdu.ReservedTag, echo.InitiatorTaskTag);
        Assert.Equal(0x4242u, echo.Field20);
        Assert.Equal(0x0001000000000000UL, echo.Lun);
        Assert.Equal(0, echo.DataSegmentLength);
        Assert.Equal(target.ExpCmdSN, echo.Field24); // CmdSN: the current one, not advanced
        Assert.Equal(statSN, echo.Field28);          // ExpStatSN did not move past the ping
        Assert.Equal(1, session.TargetPingsAnswered);

        // A ping of our own: valid ITT, TTT 0xffffffff, answered by a NOP-In that does take a StatSN.
        var pingTask = session.PingAsync(TimeSpan.FromSeconds(5));
        var nopOut = await target.ReceiveAsync();
        Assert.Equal(IscsiOpcode.NopOut, nopOut!.Opcode);
        Assert.True(nopOut.Immediate);
        Assert.NotEqual(Pdu.ReservedTag, nopOut.InitiatorTaskTag);
        Assert.Equal(Pdu.ReservedTag, nopOut.Field20);
        var reply = new Pdu { Opcode = IscsiOpcode.NopIn, Flags = 0x80, InitiatorTaskTag = nopOut.InitiatorTaskTag, Field20 = Pdu.ReservedTag };
        reply.Field24 = target.StatSN++;
        target.Send(reply);
        await pingTask;
        var secondPing = session.PingAsync(TimeSpan.FromSeconds(5));
        var second = await target.ReceiveAsync();
        Assert.Equal(statSN + 1, second!.Field28); // now ExpStatSN has moved on by the one NOP-In reply
    }

    [Fact]
    public async Task Idle_keep_alive_is_a_one_way_nop_out_when_no_reply_is_wanted()
    {
        var (target, session) = await ConnectAsync(o => { o.NopInterval = TimeSpan.FromMilliseconds(100); o.NopTimeout = TimeSpan.Zero; });
        await using var scripted = target;
        await using var live = session;
        var keepAlive = await target.ReceiveAsync(TimeSpan.FromSeconds(2));
        Assert.NotNull(keepAlive);
        Assert.Equal(IscsiOpcode.NopOut, keepAlive!.Opcode);
        Assert.True(keepAlive.Immediate);
        Assert.True(keepAlive.Final);
        Assert.Equal(Pdu.ReservedTag, keepAlive.InitiatorTaskTag);
        Assert.Equal(Pdu.ReservedTag, keepAlive.Field20);
        // Nothing answers it, and the next one follows about one interval later, not a flood.
        var next = await target.ReceiveAsync(TimeSpan.FromSeconds(2));
        Assert.NotNull(next);
        Assert.Null(await target.ReceiveAsync(TimeSpan.FromMilliseconds(60)));
    }

    [Fact]
    public async Task Write_sends_immediate_unsolicited_and_solicited_data_by_the_negotiated_rules()
    {
        var (target, session) = await ConnectAsync(o => { o.FirstBurstLength = 16384; o.MaxBurstLength = 65536; o.ImmediateData = true; o.InitialR2T = false; },
            16, new TextKeyValue(KeyNames.MaxRecvDataSegmentLength, "4096"));
        await using var scripted = target;
        await using var live = session;
        Assert.Equal(4096, session.Negotiated.Connection.MaxXmitDataSegmentLength);
        var data = new byte[32768];
        Random.Shared.NextBytes(data);
        var cdb = Read10(7, 64);
        cdb[0] = 0x2a;
        var write = session.ExecuteAsync(ScsiCommand.Write(0, cdb, data)).AsTask();

        var command = await target.ReceiveAsync();
        Assert.Equal(IscsiOpcode.ScsiCommand, command!.Opcode);
        Assert.False(command.Immediate);
        Assert.Equal(0x21, command.Flags); // F=0 (unsolicited Data-Out follows), R=0, W=1, ATTR=Simple
        Assert.Equal(32768u, command.Field20); // Expected Data Transfer Length
        Assert.Equal(target.ExpCmdSN, command.Field24);
        Assert.Equal(cdb, command.Bhs.AsSpan(32, 10).ToArray());
        Assert.Equal(4096, command.DataSegmentLength); // immediate data capped by the target's MaxRecvDataSegmentLength
        Assert.Equal(data.AsSpan(0, 4096).ToArray(), command.Data.ToArray());
        uint itt = command.InitiatorTaskTag;

        // The rest of the first burst (FirstBurstLength 16 KiB) as unsolicited Data-Out: TTT 0xffffffff, DataSN from 0.
        for (int i = 0; i < 3; i++)
        {
            var dataOut = await target.ReceiveAsync();
            Assert.Equal(IscsiOpcode.DataOut, dataOut!.Opcode);
            Assert.Equal(itt, dataOut.InitiatorTaskTag);
            Assert.Equal(Pdu.ReservedTag, dataOut.Field20);
            Assert.Equal((uint)i, dataOut.Field36);
            Assert.Equal((uint)(4096 * (i + 1)), dataOut.Field40);
            Assert.Equal(i == 2, dataOut.Final);
            Assert.Equal(data.AsSpan(4096 * (i + 1), 4096).ToArray(), dataOut.Data.ToArray());
        }
        target.ExpCmdSN++;
        Assert.Null(await target.ReceiveAsync(TimeSpan.FromMilliseconds(100))); // nothing more without an R2T

        var r2t = new Pdu { Opcode = IscsiOpcode.ReadyToTransfer, Flags = 0x80, InitiatorTaskTag = itt, Field20 = 0x77 };
        r2t.Field24 = target.StatSN;
        r2t.Field36 = 0;      // R2TSN
        r2t.Field40 = 16384;  // Buffer Offset
        r2t.Field44 = 16384;  // Desired Data Transfer Length
        target.Send(r2t);
        for (int i = 0; i < 4; i++)
        {
            var dataOut = await target.ReceiveAsync();
            Assert.Equal(IscsiOpcode.DataOut, dataOut!.Opcode);
            Assert.Equal(0x77u, dataOut.Field20); // the R2T's Target Transfer Tag
            Assert.Equal((uint)i, dataOut.Field36); // DataSN restarts for each R2T sequence
            Assert.Equal((uint)(16384 + 4096 * i), dataOut.Field40);
            Assert.Equal(i == 3, dataOut.Final);
            Assert.Equal(data.AsSpan(16384 + 4096 * i, 4096).ToArray(), dataOut.Data.ToArray());
        }
        target.SendScsiResponse(itt);
        var response = await write.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.True(response.IsGood);
    }

    [Fact]
    public async Task Read_data_lands_at_its_buffer_offset_and_a_DataSN_gap_is_fatal()
    {
        var (target, session) = await ConnectAsync();
        await using var scripted = target;
        await using var live = session;
        var expected = new byte[12288];
        Random.Shared.NextBytes(expected);
        var buffer = new byte[12288];
        var read = session.ExecuteAsync(ScsiCommand.Read(0, Read10(0, 24), buffer)).AsTask();
        var command = await target.ReceiveAsync();
        Assert.Equal(0xc1, command!.Flags); // F=1, R=1, ATTR=Simple
        Assert.Equal(12288u, command.Field20);
        uint itt = command.InitiatorTaskTag;
        // Sent out of offset order on purpose: each segment goes where its Buffer Offset says.
        int[] offsets = [8192, 0, 4096];
        for (int i = 0; i < 3; i++)
        {
            var dataIn = new Pdu { Opcode = IscsiOpcode.DataIn, InitiatorTaskTag = itt, Field20 = Pdu.ReservedTag };
            bool last = i == 2;
            dataIn.Flags = (byte)(last ? 0x81 : 0x00); // F and S (status GOOD collapsed into the last Data-In)
            dataIn.Field24 = last ? target.StatSN++ : 0;
            dataIn.Field36 = (uint)i;
            dataIn.Field40 = (uint)offsets[i];
            dataIn.SetData(expected.AsSpan(offsets[i], 4096));
            target.Send(dataIn);
        }
        var response = await read.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.True(response.IsGood);
        Assert.Equal(12288, response.TransferredLength);
        Assert.Equal(expected, buffer);

        var second = session.ExecuteAsync(ScsiCommand.Read(0, Read10(0, 16), new byte[8192])).AsTask();
        itt = (await target.ReceiveAsync())!.InitiatorTaskTag;
        foreach (uint dataSN in new uint[] { 0, 2 })
        {
            var dataIn = new Pdu { Opcode = IscsiOpcode.DataIn, InitiatorTaskTag = itt, Field20 = Pdu.ReservedTag };
            dataIn.Field36 = dataSN;
            dataIn.Field40 = dataSN * 4096 / 2;
            dataIn.SetData(new byte[4096]);
            target.Send(dataIn);
        }
        var error = await Assert.ThrowsAsync<IscsiConnectionException>(() => second.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Contains("DataSN 2 where 1 was expected", error.Message);
    }

    [Fact]
    public async Task Commands_wait_while_the_window_is_closed_and_use_consecutive_CmdSNs()
    {
        var (target, session) = await ConnectAsync(queueDepth: 2);
        await using var scripted = target;
        await using var live = session;
        uint first = target.ExpCmdSN;
        var commands = Enumerable.Range(0, 5).Select(_ => session.ExecuteAsync(new ScsiCommand(0, new byte[6])).AsTask()).ToArray();
        var seen = new List<Pdu>();
        for (int i = 0; i < 2; i++) seen.Add((await target.ReceiveAsync())!);
        Assert.Null(await target.ReceiveAsync(TimeSpan.FromMilliseconds(200))); // window [first, first+1] is full
        // Answer both but keep the window closed (MaxCmdSN = ExpCmdSN - 1): still nothing may come.
        target.ExpCmdSN = first + 2;
        target.MaxCmdSN = first + 1;
        foreach (var c in seen) target.SendScsiResponse(c.InitiatorTaskTag);
        Assert.Null(await target.ReceiveAsync(TimeSpan.FromMilliseconds(200)));
        // A NOP-In (ITT = TTT = 0xffffffff) that only opens the window lets three more through.
        target.MaxCmdSN = first + 4;
        var nopIn = new Pdu { Opcode = IscsiOpcode.NopIn, Flags = 0x80, InitiatorTaskTag = Pdu.ReservedTag, Field20 = Pdu.ReservedTag };
        nopIn.Field24 = target.StatSN;
        target.Send(nopIn);
        for (int i = 0; i < 3; i++) seen.Add((await target.ReceiveAsync())!);
        Assert.Null(await target.ReceiveAsync(TimeSpan.FromMilliseconds(100)));
        Assert.Equal(Enumerable.Range(0, 5).Select(i => first + (uint)i), seen.Select(p => p.Field24));
        target.ExpCmdSN = first + 5;
        target.MaxCmdSN = first + 20;
        foreach (var c in seen.Skip(2)) target.SendScsiResponse(c.InitiatorTaskTag);
        var results = await Task.WhenAll(commands).WaitAsync(TimeSpan.FromSeconds(5));
        Assert.All(results, r => Assert.True(r.IsGood));
    }

    [Fact]
    public async Task Reject_fails_the_command_with_the_reason_in_words()
    {
        var (target, session) = await ConnectAsync();
        await using var scripted = target;
        await using var live = session;
        var command = session.ExecuteAsync(new ScsiCommand(0, new byte[6])).AsTask();
        var pdu = await target.ReceiveAsync();
        var reject = new Pdu { Opcode = IscsiOpcode.Reject, Flags = 0x80, InitiatorTaskTag = Pdu.ReservedTag };
        reject.Bhs[2] = 0x09;
        reject.Field24 = target.StatSN++;
        reject.SetData(pdu!.Bhs);
        target.Send(reject);
        var error = await Assert.ThrowsAsync<IscsiRejectException>(() => command.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(RejectReason.InvalidPduField, error.Reason);
        Assert.StartsWith("The target rejected the PDU because a header field is invalid", error.Message);
        Assert.EndsWith($"(rejected: ScsiCommand PDU, ITT 0x{pdu.InitiatorTaskTag:x8}, reason 0x09)", error.Message);
    }

    [Fact]
    public async Task Async_logout_request_is_answered_with_a_logout()
    {
        var (target, session) = await ConnectAsync();
        await using var scripted = target;
        await using var live = session;
        var message = new Pdu { Opcode = IscsiOpcode.AsyncMessage, Flags = 0x80, InitiatorTaskTag = Pdu.ReservedTag, Field20 = Pdu.ReservedTag };
        message.Field24 = target.StatSN++;
        message.Bhs[36] = 1; // AsyncEvent: target requests logout
        message.Bhs[43] = 5; // Parameter3: seconds to logout
        target.Send(message);
        var logout = await target.ReceiveAsync();
        Assert.Equal(IscsiOpcode.LogoutRequest, logout!.Opcode);
        Assert.True(logout.Immediate);
        Assert.Equal(0x80, logout.Flags); // F=1, reason 0: close the session
        Assert.Equal(target.StatSN, logout.Field28);
        var response = new Pdu { Opcode = IscsiOpcode.LogoutResponse, Flags = 0x80, InitiatorTaskTag = logout.InitiatorTaskTag };
        response.Field24 = target.StatSN++;
        target.Send(response);
        for (int i = 0; i < 100 && session.State != IscsiSessionState.LoggedOut; i++) await Task.Delay(20);
        Assert.Equal(IscsiSessionState.LoggedOut, session.State);
        Assert.Equal("The session was logged out at the target's request.", session.FailureReason);
    }
}
