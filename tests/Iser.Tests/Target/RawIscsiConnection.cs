using System.Net;
using System.Net.Sockets;
using Iser.Core.Iscsi.Pdus;
using Iser.Core.Iscsi.Text;
using Iser.Transport.Tcp;
using Microsoft.Extensions.Logging.Abstractions;

namespace Iser.Tests.Target;

/// <summary>
/// A deliberately dumb initiator for protocol tests: it sends exactly the bytes a test builds and hands back
/// every PDU the target sends, so tests can check the target's wire behaviour against RFC 7143.
/// </summary>
internal sealed class RawIscsiConnection : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly TcpPduReader _reader;
    private readonly TcpPduWriter _writer;

    private RawIscsiConnection(Socket socket)
    {
        _socket = socket;
        _reader = new TcpPduReader(socket);
        _writer = new TcpPduWriter(socket, NullLogger.Instance);
    }

    public uint CmdSN { get; set; } = 1;
    public uint ExpStatSN { get; set; }

    public static async Task<RawIscsiConnection> ConnectAsync(IPEndPoint endPoint)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(endPoint);
        return new RawIscsiConnection(socket);
    }

    public void Send(Pdu pdu) => _writer.Enqueue(pdu);

    /// <summary>The next PDU from the target, or null if none arrives within <paramref name="timeout"/>.</summary>
    public async Task<Pdu?> ReceiveAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        var pdu = new Pdu();
        try
        {
            if (!await _reader.ReadHeaderAsync(pdu, receiverIsTarget: false, 1 << 24, cts.Token)) return null;
            await _reader.ReadDataAsync(pdu.AllocateData(pdu.DataSegmentLength), cts.Token);
        }
        catch (OperationCanceledException)
        {
            return null;
        }
        if (pdu.Opcode is not (IscsiOpcode.DataIn or IscsiOpcode.ReadyToTransfer) || (pdu.Flags & 1) != 0)
            ExpStatSN = pdu.Field24 + 1;
        return pdu;
    }

    /// <summary>Logs in with one request (security stage skipped), straight to full feature phase.</summary>
    public async Task<Pdu> LoginAsync(string? targetName, string initiatorName = "iqn.2026-11.org.iser.test:raw", params TextKeyValue[] extra)
    {
        var keys = new List<TextKeyValue> { new("InitiatorName", initiatorName) };
        if (targetName is null) keys.Add(new("SessionType", "Discovery"));
        else keys.Add(new("TargetName", targetName));
        keys.AddRange(extra);
        var pdu = LoginRequest(transit: true, csg: 1, nsg: 3, keys);
        Send(pdu);
        var response = await ReceiveAsync() ?? throw new TimeoutException("no login response");
        return response;
    }

    public Pdu LoginRequest(bool transit, int csg, int nsg, IEnumerable<TextKeyValue> keys, ulong isid = 0x400001234567)
    {
        var pdu = new Pdu { Opcode = IscsiOpcode.LoginRequest, Immediate = true };
        pdu.Flags = (byte)((transit ? 0x80 : 0) | (csg << 2) | nsg);
        for (int i = 0; i < 6; i++) pdu.Bhs[8 + i] = (byte)(isid >> (40 - 8 * i));
        pdu.InitiatorTaskTag = 0x1000;
        pdu.Field24 = CmdSN;
        pdu.Field28 = ExpStatSN;
        pdu.SetData(TextKeyValueCodec.Encode(keys));
        return pdu;
    }

    public Pdu NopOut(uint itt, uint ttt, byte[] data, bool immediate = true)
    {
        var pdu = new Pdu { Opcode = IscsiOpcode.NopOut, Immediate = immediate, Final = true, InitiatorTaskTag = itt, Field20 = ttt };
        pdu.Field24 = CmdSN;
        pdu.Field28 = ExpStatSN;
        pdu.SetData(data);
        return pdu;
    }

    public ValueTask DisposeAsync()
    {
        _socket.Dispose();
        return ValueTask.CompletedTask;
    }
}
