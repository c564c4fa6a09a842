using Iser.Core.Datamover;
using Iser.Core.Iscsi.Initiator;
using Iser.Core.Iscsi.Pdus;
using Iser.Tests.Initiator;

namespace Iser.Tests.Transport.InMemory;

/// <summary>The in-memory transport's own contract: copies, wire order, sent notifications, teardown, direct data placement.</summary>
public sealed class InMemoryTransportTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    private static async Task<(InMemoryTransport Transport, IInitiatorDatamover Initiator, ITargetDatamover Target)> ConnectAsync()
    {
        var transport = new InMemoryTransport();
        var initiator = await transport.ConnectAsync(InMemoryTransport.Host, transport.Port, CancellationToken.None);
        var target = await transport.AcceptAsync(CancellationToken.None).AsTask().WaitAsync(Wait);
        Assert.Equal("memory", initiator.TransportName);
        Assert.True(initiator.PlacesDataDirectly);
        Assert.Equal(transport.Portal, initiator.RemoteEndPoint);
        Assert.Equal(initiator.LocalEndPoint, target.RemoteEndPoint);
        return (transport, initiator, target);
    }

    private static Pdu Nop(byte[]? data = null, IPduSentNotification? sent = null)
    {
        var pdu = PduPool.Rent();
        pdu.Opcode = IscsiOpcode.NopOut;
        pdu.Final = true;
        if (data is not null) pdu.SetBorrowedData(data);
        pdu.SentNotification = sent;
        return pdu;
    }

    private static async Task<Pdu> ReceiveAsync(IDatamoverConnection end) =>
        await end.ReceiveControlAsync().AsTask().WaitAsync(Wait) ?? throw new Xunit.Sdk.XunitException("the stream ended");

    [Fact]
    public async Task Pdus_cross_as_copies_stamped_in_send_order_and_reported_sent()
    {
        var (_, initiator, target) = await ConnectAsync();
        var probe = new PduProbe();
        initiator.EnableDatamover(probe);
        var buffers = new[] { new byte[] { 10, 11 }, new byte[] { 20 }, new byte[] { 30, 31, 32 } };
        foreach (var b in buffers) await initiator.SendControlAsync(Nop(b, probe));
        // The sender's buffers may be reused as soon as the sends are reported: the peer holds copies.
        foreach (var b in buffers) b.AsSpan().Fill(0xee);
        for (uint i = 0; i < 3; i++)
        {
            using var pdu = await ReceiveAsync(target);
            Assert.Equal(IscsiOpcode.NopOut, pdu.Opcode);
            Assert.Equal(i, pdu.Field24);
            Assert.Equal(new[] { 10, 20, 30 }[i], pdu.Data.Span[0]);
            Assert.Equal(pdu.Data.Length, pdu.DataSegmentLength);
            Assert.Equal(new[] { 2, 1, 3 }[i], pdu.Data.Length);
        }
        Assert.Equal(new (uint, Exception?)[] { (0, null), (1, null), (2, null) }, probe.Sent.ToArray());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Push_delivery_starts_with_what_arrived_before_it(bool busyPoll)
    {
        var (_, initiator, target) = await ConnectAsync();
        var probe = new PduProbe();
        target.EnableDatamover(probe);
        for (byte i = 0; i < 3; i++) await target.SendControlAsync(Nop([i]));
        initiator.StartReceiving(probe, busyPoll);
        for (byte i = 3; i < 6; i++) await target.SendControlAsync(Nop([i]));
        for (byte i = 0; i < 6; i++)
        {
            Assert.True(probe.Received.TryTake(out var got, Wait));
            Assert.Equal(i, got.Stamp);
            Assert.Equal(i, got.First);
        }
        await target.TerminateAsync("done");
        Assert.Null(await probe.Ended.WaitAsync(Wait)); // the peer closed cleanly
    }

    [Fact]
    public async Task Terminate_delivers_what_was_sent_then_ends_the_peer_cleanly_and_fails_later_sends()
    {
        var (transport, initiator, target) = await ConnectAsync();
        await initiator.SendControlAsync(Nop([1]));
        await initiator.SendControlAsync(Nop([2]));
        await initiator.TerminateAsync("logged out");
        Assert.True(Assert.Single(transport.Connections).IsClosed);
        Assert.Equal(1, (await ReceiveAsync(target)).Data.Span[0]);
        Assert.Equal(2, (await ReceiveAsync(target)).Data.Span[0]);
        Assert.Null(await target.ReceiveControlAsync().AsTask().WaitAsync(Wait));
        var local = await Assert.ThrowsAsync<DatamoverException>(async () => await initiator.ReceiveControlAsync());
        Assert.Contains("closed on this side (logged out)", local.Message);
        var probe = new PduProbe();
        var refused = await Assert.ThrowsAsync<DatamoverException>(async () => await target.SendControlAsync(Nop(sent: probe)));
        Assert.Contains("logged out", refused.Message);
        Assert.Same(refused, Assert.Single(probe.Sent).Error);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Kill_fails_both_ends_at_once(bool busyPoll)
    {
        var (transport, initiator, target) = await ConnectAsync();
        var probe = new PduProbe();
        initiator.StartReceiving(probe, busyPoll);
        await target.SendControlAsync(Nop([7]));
        Assert.True(probe.Received.TryTake(out _, Wait));
        var pending = target.ReceiveControlAsync().AsTask();
        Assert.Single(transport.Connections).Kill("cable pulled");
        var pushed = Assert.IsType<DatamoverException>(await probe.Ended.WaitAsync(Wait));
        Assert.Contains("cable pulled", pushed.Message);
        var pulled = await Assert.ThrowsAsync<DatamoverException>(() => pending.WaitAsync(Wait));
        Assert.Contains("cable pulled", pulled.Message);
        await Assert.ThrowsAsync<DatamoverException>(async () => await initiator.SendControlAsync(Nop()));
    }

    [Fact]
    public async Task An_oversized_data_segment_breaks_the_connection_as_on_tcp()
    {
        var (_, initiator, target) = await ConnectAsync();
        // During login the RFC's 8192 bytes apply.
        await initiator.SendControlAsync(Nop(new byte[8193]));
        var error = await Assert.ThrowsAsync<PduFormatException>(async () => await target.ReceiveControlAsync());
        Assert.Contains("8193-byte data segment", error.Message);
        Assert.Null(await initiator.ReceiveControlAsync().AsTask().WaitAsync(Wait));
    }

    [Fact]
    public async Task Read_data_is_placed_in_the_initiators_buffer_and_write_data_fetched_from_it()
    {
        var (transport, initiator, target) = await ConnectAsync();
        var connection = Assert.Single(transport.Connections);
        var readBuffer = new byte[1024];
        var writeBuffer = new byte[2048];
        Random.Shared.NextBytes(writeBuffer);
        var read = new DataTask { InitiatorTaskTag = 1, IsRead = true, ExpectedDataTransferLength = readBuffer.Length };
        var write = new DataTask { InitiatorTaskTag = 2, IsWrite = true, ExpectedDataTransferLength = writeBuffer.Length };
        await initiator.SendCommandAsync(read, Command(1), readBuffer, default);
        await initiator.SendCommandAsync(write, Command(2), default, writeBuffer);
        Assert.Equal(2, connection.RegisteredCommands);

        var targetRead = new DataTask { InitiatorTaskTag = 1, IsRead = true, ExpectedDataTransferLength = readBuffer.Length };
        var targetWrite = new DataTask { InitiatorTaskTag = 2, IsWrite = true, ExpectedDataTransferLength = writeBuffer.Length };
        using (var command = await ReceiveAsync(target))
        {
            Assert.True(command.Final); // no immediate data, no Data-Out to follow
            target.BeginTask(targetRead, command, default);
        }
        var fetched = new byte[writeBuffer.Length];
        using (var command = await ReceiveAsync(target)) target.BeginTask(targetWrite, command, fetched);

        var data = new byte[512];
        Random.Shared.NextBytes(data);
        Assert.False(await target.PutDataAsync(targetRead, data, 256, isLast: true, new CollapsedStatus(0, true, false, 512)));
        Assert.Equal(data, readBuffer[256..768]);
        Assert.All(readBuffer[..256], b => Assert.Equal(0, b));
        await target.GetDataAsync(targetWrite, 1500);
        Assert.Equal(writeBuffer[..1500], fetched[..1500]);
        Assert.All(fetched[1500..], b => Assert.Equal(0, b));

        // Once the initiator ended a command, the target reaches none of its memory.
        initiator.EndTask(read);
        initiator.EndTask(write);
        Assert.Equal(0, connection.RegisteredCommands);
        Assert.False(await target.PutDataAsync(targetRead, new byte[512], 0, isLast: true, null));
        Assert.Equal(data, readBuffer[256..768]);
        await Assert.ThrowsAsync<DatamoverException>(async () => await target.GetDataAsync(targetWrite, 16));
        Assert.False(connection.IsClosed);
    }

    [Fact]
    public async Task Read_data_past_the_registered_buffer_breaks_the_connection()
    {
        var (transport, initiator, target) = await ConnectAsync();
        var read = new DataTask { InitiatorTaskTag = 5, IsRead = true, ExpectedDataTransferLength = 512 };
        await initiator.SendCommandAsync(read, Command(5), new byte[512], default);
        var targetRead = new DataTask { InitiatorTaskTag = 5, IsRead = true, ExpectedDataTransferLength = 512 };
        using (var command = await ReceiveAsync(target)) target.BeginTask(targetRead, command, default);
        var error = await Assert.ThrowsAsync<DatamoverException>(async () => await target.PutDataAsync(targetRead, new byte[512], 1, true, null));
        Assert.Contains("runs past", error.Message);
        Assert.True(Assert.Single(transport.Connections).IsClosed);
    }

    [Fact]
    public async Task A_command_without_a_read_buffer_is_refused_not_the_connection()
    {
        var (transport, initiator, target) = await ConnectAsync();
        var read = new DataTask { InitiatorTaskTag = 6, IsRead = true, ExpectedDataTransferLength = 512 };
        await initiator.SendCommandAsync(read, Command(6), default, default);
        var targetRead = new DataTask { InitiatorTaskTag = 6, IsRead = true, ExpectedDataTransferLength = 512 };
        using (var command = await ReceiveAsync(target)) target.BeginTask(targetRead, command, default);
        await Assert.ThrowsAsync<DataTransferRefusedException>(async () => await target.PutDataAsync(targetRead, new byte[512], 0, true, null));
        Assert.False(Assert.Single(transport.Connections).IsClosed);
    }

    [Fact]
    public async Task Connect_is_refused_on_another_portal_or_a_closed_listener()
    {
        var transport = new InMemoryTransport();
        var other = await Assert.ThrowsAsync<DatamoverException>(async () =>
            await transport.ConnectAsync(InMemoryTransport.Host, transport.Port + 1000, CancellationToken.None));
        Assert.Contains(transport.Portal, other.Message);
        await transport.DisposeAsync();
        var refused = await Assert.ThrowsAsync<DatamoverException>(async () =>
            await transport.ConnectAsync(InMemoryTransport.Host, transport.Port, CancellationToken.None));
        Assert.Contains("refused", refused.Message);
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await transport.AcceptAsync(CancellationToken.None));
    }

    [Fact]
    public async Task A_session_whose_connection_is_killed_logs_in_again_and_keeps_its_data()
    {
        await using var target = InProcessTarget.Start(blocks: 256, transport: InProcessTarget.Memory);
        var memory = target.InMemory!;
        await using var session = await IscsiSession.ConnectAsync(target.SessionOptions(), target.InitiatorTransport);
        var lun = await session.OpenLunAsync(0);
        var data = new byte[8 * 512];
        Random.Shared.NextBytes(data);
        await lun.WriteAsync(3, data);
        Assert.Single(memory.Connections).Kill();
        var back = new byte[data.Length];
        await lun.ReadAsync(3, back).AsTask().WaitAsync(Wait);
        Assert.Equal(data, back);
        Assert.Equal(2, memory.Connections.Count);
        Assert.True(memory.Connections[0].IsClosed);
        Assert.False(memory.Connections[1].IsClosed);
    }

    /// <summary>A SCSI Command PDU as the initiator core hands it over (no CDB needed here).</summary>
    private static Pdu Command(uint itt)
    {
        var pdu = PduPool.Rent();
        pdu.Opcode = IscsiOpcode.ScsiCommand;
        pdu.InitiatorTaskTag = itt;
        return pdu;
    }
}
