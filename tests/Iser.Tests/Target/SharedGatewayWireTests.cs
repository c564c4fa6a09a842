using System.Buffers.Binary;
using System.Net;
using Iser.Core.Iscsi.Target;
using Iser.Core.Scsi.Target;
using Iser.Tests.ScsiTarget.Reservations;
using Iser.Transport.Tcp;
using static Iser.Tests.Target.UnitAttentionWireTests;

namespace Iser.Tests.Target;

/// <summary>
/// Two in-process targets (gateway A in portal group 1, B in group 2) whose logical units share one fake store
/// (<see cref="SharedReservationBoard"/>), on the wire: REPORT TARGET PORT GROUPS through B lists A's group beside its
/// own, and a PREEMPT AND ABORT through A ends the preempted initiator's command parked in B's logical unit (through
/// B's <see cref="IscsiTarget"/>, the connection abort a local PREEMPT AND ABORT uses) and tells it 2Ah/05h there.
/// </summary>
public sealed class SharedGatewayWireTests
{
    private const string Iqn = "iqn.2026-12.org.iser.test:gateways";
    private const string Host1 = "iqn.2026-12.org.iser.test:host-1";
    private const string Host2 = "iqn.2026-12.org.iser.test:host-2";

    [Fact]
    public async Task Rtpg_through_b_lists_a_and_a_preempt_and_abort_through_a_ends_the_task_parked_on_b()
    {
        var board = new SharedReservationBoard();
        await using var a = Gateway(board, 1, out var portA);
        await using var b = Gateway(board, 2, out var portB);
        b.SetAccessState(2, Core.Scsi.Target.Alua.AluaState.ActiveNonOptimized);
        var host1ThroughB = await Session.LoginAsync(portB, Host1, Iqn, 0x400000000001);
        var host2ThroughA = await Session.LoginAsync(portA, Host2, Iqn, 0x400000000002);
        try
        {
            Assert.Equal(Good, await host1ThroughB.ScsiAsync([0, 0, 0, 0, 0, 0]));
            Assert.Equal(Good, await host2ThroughA.ScsiAsync([0, 0, 0, 0, 0, 0]));

            var (status, rtpg) = await host1ThroughB.ScsiInAsync([0xA3, 0x0A, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0], 1024);
            Assert.Equal(0, status);
            Assert.Equal(28, rtpg.Length); // header and two descriptors of one port each
            Assert.Equal((1, 0x0, 1), (BinaryPrimitives.ReadUInt16BigEndian(rtpg.AsSpan(6)), rtpg[4] & 0x0F, BinaryPrimitives.ReadUInt16BigEndian(rtpg.AsSpan(14))));
            Assert.Equal((2, 0x1, 2), (BinaryPrimitives.ReadUInt16BigEndian(rtpg.AsSpan(18)), rtpg[16] & 0x0F, BinaryPrimitives.ReadUInt16BigEndian(rtpg.AsSpan(26))));

            const ulong key1 = 0xA1, key2 = 0xB2;
            Assert.Equal(Good, await host1ThroughB.ScsiAsync(PrOut(0x00, 0), PrList(0, key1)));  // REGISTER through B
            Assert.Equal(Good, await host2ThroughA.ScsiAsync(PrOut(0x00, 0), PrList(0, key2)));  // REGISTER through A
            Assert.Equal(Good, await host1ThroughB.ScsiAsync(PrOut(0x01, 1), PrList(key1, 0)));  // RESERVE through B
            uint parked = host1ThroughB.SendParkedWrite();
            await Task.Delay(200);
            Assert.NotNull(ParkedOn(b, parked));

            // PREEMPT AND ABORT of host 1's key through A: B ends host 1's parked write before A's command completes.
            Assert.Equal(Good, await host2ThroughA.ScsiAsync(PrOut(0x05, 1), PrList(key2, key1)));
            Assert.Null(ParkedOn(b, parked));
            Assert.Equal(Attention(0x2a, 0x05), await host1ThroughB.ScsiAsync([0, 0, 0, 0, 0, 0], skipItt: parked));
            Assert.Equal((byte)0x18, (await host1ThroughB.ScsiAsync(Write10(0, 1), new byte[512])).Status);
            Assert.Equal(Good, await host2ThroughA.ScsiAsync(Write10(0, 1), new byte[512]));
        }
        finally
        {
            await host1ThroughB.DisposeAsync();
            await host2ThroughA.DisposeAsync();
        }
    }

    /// <summary>The task <paramref name="itt"/> while it is on a connection of <paramref name="target"/>.</summary>
    private static object? ParkedOn(IscsiTarget target, uint itt) =>
        target.Nodes.SelectMany(target.ConnectionsOf).Select(c => c.Tasks.Find(itt)).FirstOrDefault(t => t is not null);

    private static IscsiTarget Gateway(SharedReservationBoard board, ushort group, out IPEndPoint endPoint)
    {
        var target = new IscsiTarget(new IscsiTargetOptions { NopInInterval = TimeSpan.Zero });
        var node = new TargetNode(Iqn);
        node.AddLun(0, new BlockDeviceLogicalUnit(board.OpenStore(), new BlockDeviceOptions { BlockSize = 512, Identity = "shared" }));
        target.AddNode(node);
        var listener = new TcpDatamoverListener(new IPEndPoint(IPAddress.Loopback, 0), Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        target.Listen(listener, group);
        endPoint = listener.LocalEndPoint;
        return target;
    }
}
