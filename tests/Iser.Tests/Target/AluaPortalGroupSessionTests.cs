using System.Net;
using Iser.Core.Iscsi.Pdus;
using Iser.Core.Iscsi.Target;
using Iser.Core.Iscsi.Text;
using Iser.Core.Scsi.Target;
using Iser.Core.Scsi.Target.Stores;
using Iser.Transport.Tcp;
using Microsoft.Extensions.Logging.Abstractions;

namespace Iser.Tests.Target;

/// <summary>
/// Sessions and portal groups (RFC 7143 §4.4.1: a session is named by ISID and TPGT and stays in one portal group): the
/// same ISID through another group is another session, not a reinstatement, and a connection cannot join a session
/// through a portal of another group.
/// </summary>
public class AluaPortalGroupSessionTests
{
    private const string Iqn = "iqn.2026-12.org.iser.test:alua-sessions";
    private const ulong Isid = 0x400000000A1A;

    [Fact]
    public async Task The_same_isid_through_another_portal_group_is_another_session_and_cannot_join_the_first()
    {
        await using var target = new IscsiTarget(new IscsiTargetOptions { NopInInterval = TimeSpan.Zero });
        var node = new TargetNode(Iqn);
        node.AddLun(0, new BlockDeviceLogicalUnit(new RamBackingStore(1 << 20), new BlockDeviceOptions { BlockSize = 512 }));
        target.AddNode(node);
        var one = new TcpDatamoverListener(new IPEndPoint(IPAddress.Loopback, 0), NullLogger.Instance);
        var two = new TcpDatamoverListener(new IPEndPoint(IPAddress.Loopback, 0), NullLogger.Instance);
        target.Listen(one, 1);
        target.Listen(two, 2);

        await using var first = await RawIscsiConnection.ConnectAsync(one.LocalEndPoint);
        var firstLogin = await LoginAsync(first, tsih: 0, cid: 0);
        Assert.Equal((0, 0), (firstLogin.Bhs[36], firstLogin.Bhs[37]));
        Assert.Equal("1", Keys(firstLogin)["TargetPortalGroupTag"]);
        ushort tsih = (ushort)(firstLogin.Bhs[14] << 8 | firstLogin.Bhs[15]);

        // Joining the group-1 session through group 2's portal: no such session there (status 02h/0Ah).
        await using (var joining = await RawIscsiConnection.ConnectAsync(two.LocalEndPoint))
        {
            var refused = await LoginAsync(joining, tsih, cid: 1);
            Assert.Equal((2, 0x0A), (refused.Bhs[36], refused.Bhs[37]));
        }

        // A new session with the same ISID through group 2 leaves the group-1 session alone.
        await using var second = await RawIscsiConnection.ConnectAsync(two.LocalEndPoint);
        var secondLogin = await LoginAsync(second, tsih: 0, cid: 0);
        Assert.Equal((0, 0), (secondLogin.Bhs[36], secondLogin.Bhs[37]));
        Assert.Equal("2", Keys(secondLogin)["TargetPortalGroupTag"]);
        Assert.Equal(2, target.SessionCount);
        first.CmdSN = firstLogin.Field28;
        first.ExpStatSN = firstLogin.Field24 + 1;
        first.Send(first.NopOut(0x55, Pdu.ReservedTag, [1, 2, 3]));
        var echo = await first.ReceiveAsync(TimeSpan.FromSeconds(5));
        Assert.NotNull(echo);
        Assert.Equal(IscsiOpcode.NopIn, echo!.Opcode);
        Assert.Equal(0x55u, echo.InitiatorTaskTag);
    }

    private static async Task<Pdu> LoginAsync(RawIscsiConnection c, ushort tsih, ushort cid)
    {
        var request = c.LoginRequest(transit: true, csg: 1, nsg: 3,
            [new("InitiatorName", "iqn.2026-12.org.iser.test:alua-initiator"), new("TargetName", Iqn), new("MaxConnections", "4")], Isid);
        request.Bhs[14] = (byte)(tsih >> 8);
        request.Bhs[15] = (byte)tsih;
        request.Bhs[20] = (byte)(cid >> 8);
        request.Bhs[21] = (byte)cid;
        c.Send(request);
        return await c.ReceiveAsync() ?? throw new TimeoutException("no login response");
    }

    private static Dictionary<string, string> Keys(Pdu response) =>
        TextKeyValueCodec.Parse(response.Data.ToArray()).ToDictionary(k => k.Key, k => k.Value);
}
