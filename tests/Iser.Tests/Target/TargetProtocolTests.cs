using System.Net;
using Iser.Core.Iscsi.Pdus;
using Iser.Core.Iscsi.Target;
using Iser.Core.Iscsi.Text;
using Iser.Transport.Tcp;
using Microsoft.Extensions.Logging.Abstractions;

namespace Iser.Tests.Target;

/// <summary>The target's wire behaviour against RFC 7143, driven by a raw PDU client on loopback.</summary>
public sealed class TargetProtocolTests : IAsyncLifetime
{
    private const string Iqn = "iqn.2026-11.org.iser.test:proto";
    private readonly IscsiTarget _target = new(new IscsiTargetOptions { NopInInterval = TimeSpan.Zero });
    private IPEndPoint _endPoint = null!;

    public Task InitializeAsync()
    {
        _target.AddNode(new TargetNode(Iqn));
        var listener = new TcpDatamoverListener(new IPEndPoint(IPAddress.Loopback, 0), NullLogger.Instance);
        _target.Listen(listener);
        _endPoint = listener.LocalEndPoint;
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _target.DisposeAsync();

    [Fact]
    public async Task LoginResponseEchoesIsidAndItt_AssignsTsih_AndReportsCmdSNWindow()
    {
        await using var c = await RawIscsiConnection.ConnectAsync(_endPoint);
        c.CmdSN = 77;
        c.ExpStatSN = 500;
        var r = await c.LoginAsync(Iqn);
        Assert.Equal(IscsiOpcode.LoginResponse, r.Opcode);
        Assert.Equal(0, r.Bhs[36]); // status class: success
        Assert.Equal(0x80 | (1 << 2) | 3, r.Flags); // T=1, CSG=operational, NSG=full feature
        Assert.Equal(new byte[] { 0x40, 0x00, 0x01, 0x23, 0x45, 0x67 }, r.Bhs[8..14]);
        Assert.NotEqual(0, (r.Bhs[14] << 8) | r.Bhs[15]); // TSIH assigned
        Assert.Equal(0x1000u, r.InitiatorTaskTag);
        Assert.Equal(500u, r.Field24); // first StatSN follows the initiator's ExpStatSN
        Assert.Equal(77u, r.Field28); // ExpCmdSN: login does not advance CmdSN
        Assert.Equal(77u + 127, r.Field32); // MaxCmdSN: default queue depth 128
        var keys = TextKeyValueCodec.Parse(r.Data.Span);
        Assert.Contains(keys, k => k.Key == "TargetPortalGroupTag");
    }

    [Fact]
    public async Task UnknownTargetIsRefusedWithTargetNotFound()
    {
        await using var c = await RawIscsiConnection.ConnectAsync(_endPoint);
        var r = await c.LoginAsync("iqn.2026-11.org.iser.test:nope");
        Assert.Equal(0x02, r.Bhs[36]);
        Assert.Equal(0x03, r.Bhs[37]);
        Assert.Null(await c.ReceiveAsync(TimeSpan.FromSeconds(2))); // and the connection closes
    }

    [Fact]
    public async Task NopOutPingIsAnsweredWithItsDataAndTakesOneStatSN()
    {
        await using var c = await RawIscsiConnection.ConnectAsync(_endPoint);
        var login = await c.LoginAsync(Iqn);
        uint statSN = login.Field24;
        c.Send(c.NopOut(itt: 0x55, ttt: Pdu.ReservedTag, data: [1, 2, 3, 4, 5]));
        var r = await c.ReceiveAsync();
        Assert.NotNull(r);
        Assert.Equal(IscsiOpcode.NopIn, r!.Opcode);
        Assert.Equal(0x55u, r.InitiatorTaskTag);
        Assert.Equal(Pdu.ReservedTag, r.Field20);
        Assert.Equal(statSN + 1, r.Field24);
        Assert.Equal(new byte[] { 1, 2, 3, 4, 5 }, r.Data.ToArray());
    }

    [Fact]
    public async Task CommandOutsideCmdSNWindowIsSilentlyIgnored()
    {
        await using var c = await RawIscsiConnection.ConnectAsync(_endPoint);
        var login = await c.LoginAsync(Iqn);
        uint max = login.Field32;
        c.Send(c.NopOut(itt: 0x66, ttt: Pdu.ReservedTag, data: [], immediate: false).WithCmdSN(max + 1));
        Assert.Null(await c.ReceiveAsync(TimeSpan.FromSeconds(1)));
        c.Send(c.NopOut(itt: 0x67, ttt: Pdu.ReservedTag, data: [], immediate: false).WithCmdSN(login.Field28));
        var r = await c.ReceiveAsync();
        Assert.Equal(0x67u, r!.InitiatorTaskTag);
        Assert.Equal(login.Field28 + 1, r.Field28); // ExpCmdSN advanced past the accepted command
    }

    [Fact]
    public async Task UnknownOpcodeIsRejectedWithItsHeader()
    {
        await using var c = await RawIscsiConnection.ConnectAsync(_endPoint);
        await c.LoginAsync(Iqn);
        var odd = new Pdu { Immediate = true, Final = true, InitiatorTaskTag = 0x99 };
        odd.Bhs[0] = 0x40 | 0x1c; // a reserved initiator opcode
        c.Send(odd);
        var r = await c.ReceiveAsync();
        Assert.Equal(IscsiOpcode.Reject, r!.Opcode);
        Assert.Equal((byte)RejectReason.CommandNotSupported, r.Bhs[2]);
        Assert.Equal(48, r.Data.Length);
        Assert.Equal(0x1c, r.Data.Span[0] & 0x3f);
    }

    [Fact]
    public async Task DiscoverySessionAnswersSendTargetsWithPortal()
    {
        await using var c = await RawIscsiConnection.ConnectAsync(_endPoint);
        var login = await c.LoginAsync(null);
        Assert.Equal(0, login.Bhs[36]);
        var text = new Pdu { Opcode = IscsiOpcode.TextRequest, Immediate = true, Final = true, InitiatorTaskTag = 0x42, Field20 = Pdu.ReservedTag };
        text.Field24 = c.CmdSN;
        text.SetData(TextKeyValueCodec.Encode(new TextKeyValue("SendTargets", "All")));
        c.Send(text);
        var r = await c.ReceiveAsync();
        Assert.Equal(IscsiOpcode.TextResponse, r!.Opcode);
        var keys = TextKeyValueCodec.Parse(r.Data.Span, allowRepeatedKeys: true);
        Assert.Contains(new TextKeyValue("TargetName", Iqn), keys);
        Assert.Contains(new TextKeyValue("TargetAddress", $"127.0.0.1:{_endPoint.Port},1"), keys);
    }

    [Fact]
    public async Task LoginWithTheIsidOfALiveSessionReinstatesIt()
    {
        await using var first = await RawIscsiConnection.ConnectAsync(_endPoint);
        var r1 = await first.LoginAsync(Iqn);
        Assert.Equal(0, r1.Bhs[36]);
        await using var second = await RawIscsiConnection.ConnectAsync(_endPoint);
        var r2 = await second.LoginAsync(Iqn); // same initiator name and ISID, TSIH 0
        Assert.Equal(0, r2.Bhs[36]);
        Assert.NotEqual((r1.Bhs[14] << 8) | r1.Bhs[15], (r2.Bhs[14] << 8) | r2.Bhs[15]);
        Assert.Null(await first.ReceiveAsync(TimeSpan.FromSeconds(3))); // the old connection was closed
        second.Send(second.NopOut(itt: 0x77, ttt: Pdu.ReservedTag, data: []));
        Assert.Equal(0x77u, (await second.ReceiveAsync())!.InitiatorTaskTag); // the new one works
        Assert.Equal(1, _target.SessionCount);
    }

    [Fact]
    public async Task LoginWithUnknownTsihIsRefusedWithSessionDoesNotExist()
    {
        await using var c = await RawIscsiConnection.ConnectAsync(_endPoint);
        var request = c.LoginRequest(transit: true, csg: 1, nsg: 3,
            [new TextKeyValue("InitiatorName", "iqn.2026-11.org.iser.test:raw"), new TextKeyValue("TargetName", Iqn)]);
        request.Bhs[14] = 0x12; // TSIH 0x1234: adding a connection to a session that does not exist
        request.Bhs[15] = 0x34;
        c.Send(request);
        var r = await c.ReceiveAsync();
        Assert.Equal(0x02, r!.Bhs[36]);
        Assert.Equal(0x0a, r.Bhs[37]);
    }

    /// <summary>A target that pings after 200 ms of silence and gives up 400 ms later.</summary>
    private static (IscsiTarget Target, IPEndPoint EndPoint) StartPingingTarget()
    {
        var target = new IscsiTarget(new IscsiTargetOptions { NopInInterval = TimeSpan.FromMilliseconds(200), NopInTimeout = TimeSpan.FromMilliseconds(400) });
        target.AddNode(new TargetNode(Iqn));
        var listener = new TcpDatamoverListener(new IPEndPoint(IPAddress.Loopback, 0), NullLogger.Instance);
        target.Listen(listener);
        return (target, listener.LocalEndPoint);
    }

    [Fact]
    public async Task SilentInitiatorIsDroppedAfterUnansweredNopIn()
    {
        var (target, endPoint) = StartPingingTarget();
        await using var _ = target;
        await using var c = await RawIscsiConnection.ConnectAsync(endPoint);
        await c.LoginAsync(Iqn);
        var ping = await c.ReceiveAsync(TimeSpan.FromSeconds(3));
        Assert.Equal(IscsiOpcode.NopIn, ping!.Opcode);
        Assert.Equal(Pdu.ReservedTag, ping.InitiatorTaskTag);
        Assert.NotEqual(Pdu.ReservedTag, ping.Field20); // asks for a reply
        // We do not answer: the target must close the connection.
        Assert.Null(await c.ReceiveAsync(TimeSpan.FromSeconds(3)));
        Assert.Equal(0, target.SessionCount);
    }

    [Fact]
    public async Task AnsweredNopInKeepsTheSessionAlive()
    {
        var (target, endPoint) = StartPingingTarget();
        await using var _ = target;
        await using var c = await RawIscsiConnection.ConnectAsync(endPoint);
        await c.LoginAsync(Iqn);
        for (int i = 0; i < 4; i++)
        {
            var ping = await c.ReceiveAsync(TimeSpan.FromSeconds(3));
            Assert.Equal(IscsiOpcode.NopIn, ping!.Opcode);
            c.Send(c.NopOut(itt: Pdu.ReservedTag, ttt: ping.Field20, data: []));
        }
        Assert.Equal(1, target.SessionCount);
    }
}

internal static class PduTestExtensions
{
    public static Pdu WithCmdSN(this Pdu pdu, uint cmdSN)
    {
        pdu.Field24 = cmdSN;
        return pdu;
    }
}
