using System.Net;
using System.Net.Sockets;
using Iser.Core.Datamover;
using Iser.Core.Iscsi.Pdus;
using Iser.Transport.Tcp;
using Microsoft.Extensions.Logging.Abstractions;

namespace Iser.Tests.Transport;

/// <summary>The TCP reader and writer over a real loopback socket pair: framing, padding, digests.</summary>
public sealed class TcpFramingTests : IAsyncLifetime
{
    private Socket _a = null!, _b = null!;

    public async Task InitializeAsync()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        _a = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var accept = listener.AcceptAsync();
        await _a.ConnectAsync(listener.LocalEndPoint!);
        _b = await accept;
    }

    public Task DisposeAsync()
    {
        _a.Dispose();
        _b.Dispose();
        return Task.CompletedTask;
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, true)]
    public async Task PdusRoundTripWithDataAndPadding(bool headerDigest, bool dataDigest)
    {
        var writer = new TcpPduWriter(_a, NullLogger.Instance) { HeaderDigest = headerDigest, DataDigest = dataDigest };
        var reader = new TcpPduReader(_b) { HeaderDigest = headerDigest, DataDigest = dataDigest };
        var payloads = new[] { 0, 1, 7, 4096, 300_000 }.Select(n => Enumerable.Range(0, n).Select(i => (byte)(i * 7)).ToArray()).ToArray();
        foreach (var p in payloads)
        {
            var pdu = PduPool.Rent();
            pdu.Opcode = IscsiOpcode.NopOut;
            pdu.Final = true;
            pdu.InitiatorTaskTag = (uint)p.Length;
            pdu.SetData(p);
            writer.Enqueue(pdu);
        }
        foreach (var p in payloads)
        {
            var got = new Pdu();
            Assert.True(await reader.ReadHeaderAsync(got, receiverIsTarget: true, 1 << 20, CancellationToken.None));
            Assert.Equal((uint)p.Length, got.InitiatorTaskTag);
            Assert.Equal(p.Length, got.DataSegmentLength);
            var data = new byte[got.DataSegmentLength];
            await reader.ReadDataAsync(data, CancellationToken.None);
            Assert.Equal(p, data);
        }
    }

    [Fact]
    public async Task CorruptDataDigestIsRecoverableAndStreamStaysInStep()
    {
        // Hand-frame two PDUs; corrupt the first one's data digest.
        var first = BuildFrame(itt: 1, data: [1, 2, 3, 4, 5], corruptDataDigest: true);
        var second = BuildFrame(itt: 2, data: [6, 7], corruptDataDigest: false);
        await _a.SendAsync(first.Concat(second).ToArray());
        var reader = new TcpPduReader(_b) { HeaderDigest = true, DataDigest = true };
        var pdu = new Pdu();
        Assert.True(await reader.ReadHeaderAsync(pdu, true, 8192, CancellationToken.None));
        var e = await Assert.ThrowsAsync<PduFormatException>(async () => await reader.ReadDataAsync(new byte[5], CancellationToken.None));
        Assert.True(e.Recoverable);
        Assert.Contains("Data digest error", e.Message);
        Assert.True(await reader.ReadHeaderAsync(pdu, true, 8192, CancellationToken.None));
        Assert.Equal(2u, pdu.InitiatorTaskTag);
        var data = new byte[2];
        await reader.ReadDataAsync(data, CancellationToken.None);
        Assert.Equal(new byte[] { 6, 7 }, data);
    }

    [Fact]
    public async Task CorruptHeaderDigestIsFatal()
    {
        var frame = BuildFrame(itt: 1, data: [], corruptDataDigest: false);
        frame[48] ^= 0xff;
        await _a.SendAsync(frame);
        var reader = new TcpPduReader(_b) { HeaderDigest = true, DataDigest = true };
        var e = await Assert.ThrowsAsync<PduFormatException>(async () => await reader.ReadHeaderAsync(new Pdu(), true, 8192, CancellationToken.None));
        Assert.False(e.Recoverable);
        Assert.Contains("Header digest error", e.Message);
    }

    [Fact]
    public async Task PeerClosingMidPduIsReportedInWords()
    {
        var frame = BuildFrame(itt: 1, data: [1, 2, 3, 4], corruptDataDigest: false);
        await _a.SendAsync(frame.AsMemory(0, 30));
        _a.Shutdown(SocketShutdown.Send);
        var reader = new TcpPduReader(_b) { HeaderDigest = true, DataDigest = true };
        var e = await Assert.ThrowsAsync<DatamoverException>(async () => await reader.ReadHeaderAsync(new Pdu(), true, 8192, CancellationToken.None));
        Assert.Contains("closed by peer in the middle of a PDU", e.Message);
    }

    private static byte[] BuildFrame(uint itt, byte[] data, bool corruptDataDigest)
    {
        var pdu = new Pdu { Opcode = IscsiOpcode.NopOut, Final = true, InitiatorTaskTag = itt };
        pdu.SetData(data);
        var buf = new byte[PduWireFormat.HeaderLength(pdu, true) + PduWireFormat.DataLength(data.Length, true)];
        int n = PduWireFormat.WriteHeader(pdu, buf, true);
        n += PduWireFormat.WriteData(data, buf.AsSpan(n), true);
        if (corruptDataDigest) buf[n - 1] ^= 0x5a;
        return buf;
    }
}
