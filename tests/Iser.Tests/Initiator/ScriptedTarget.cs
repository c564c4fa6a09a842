using System.Net;
using System.Net.Sockets;
using Iser.Core.Iscsi.Pdus;
using Iser.Core.Iscsi.Text;
using Iser.Transport.Tcp;
using Microsoft.Extensions.Logging.Abstractions;

namespace Iser.Tests.Initiator;

/// <summary>
/// A deliberately dumb target for initiator wire tests: it completes a login by echoing the initiator's offers
/// (with overrides), then hands every PDU the initiator sends to the test and sends exactly what the test builds.
/// </summary>
internal sealed class ScriptedTarget : IAsyncDisposable
{
    private readonly Socket _listener;
    private Socket? _socket;
    private TcpPduReader? _reader;
    private TcpPduWriter? _writer;

    public ScriptedTarget()
    {
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(4);
        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
    }

    public int Port { get; }
    public uint StatSN { get; set; } = 100;
    public uint ExpCmdSN { get; set; }
    public uint MaxCmdSN { get; set; }

    /// <summary>Accepts the initiator's connection and answers its login; keys in <paramref name="answers"/> replace the echo.</summary>
    public async Task AcceptLoginAsync(int queueDepth = 16, params TextKeyValue[] answers)
    {
        _socket = await _listener.AcceptAsync();
        _socket.NoDelay = true;
        _reader = new TcpPduReader(_socket);
        _writer = new TcpPduWriter(_socket, NullLogger.Instance);
        var overrides = answers.ToDictionary(a => a.Key, a => a.Value);
        while (true)
        {
            var request = await ReceiveAsync() ?? throw new InvalidOperationException("The initiator closed the connection during login.");
            Assert.Equal(IscsiOpcode.LoginRequest, request.Opcode);
            bool transit = (request.Flags & 0x80) != 0;
            int csg = (request.Flags >> 2) & 3, nsg = request.Flags & 3;
            var reply = new List<TextKeyValue>();
            foreach (var pair in TextKeyValueCodec.Parse(request.Data.Span))
            {
                if (pair.Key is KeyNames.InitiatorName or KeyNames.InitiatorAlias or KeyNames.SessionType or KeyNames.TargetName) continue;
                string value = pair.Key == KeyNames.AuthMethod ? "None"
                    : overrides.TryGetValue(pair.Key, out var forced) ? forced : pair.Value.Split(',')[0];
                reply.Add(new TextKeyValue(pair.Key, value));
            }
            bool final = transit && nsg == 3;
            ExpCmdSN = request.Field24;
            MaxCmdSN = ExpCmdSN + (uint)queueDepth - 1;
            var response = new Pdu { Opcode = IscsiOpcode.LoginResponse };
            response.Flags = (byte)((transit ? 0x80 : 0) | (csg << 2) | nsg);
            request.Bhs.AsSpan(8, 6).CopyTo(response.Bhs.AsSpan(8));
            if (final) response.Bhs[15] = 1; // TSIH
            response.InitiatorTaskTag = request.InitiatorTaskTag;
            response.Field24 = StatSN++;
            response.Field28 = ExpCmdSN;
            response.Field32 = MaxCmdSN;
            response.SetData(TextKeyValueCodec.Encode(reply));
            _writer.Enqueue(response);
            if (final) return;
        }
    }

    /// <summary>The next PDU from the initiator, or null if none arrives within <paramref name="timeout"/>.</summary>
    public async Task<Pdu?> ReceiveAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        var pdu = new Pdu();
        try
        {
            if (!await _reader!.ReadHeaderAsync(pdu, receiverIsTarget: true, 1 << 24, cts.Token)) return null;
            await _reader.ReadDataAsync(pdu.AllocateData(pdu.DataSegmentLength), cts.Token);
        }
        catch (OperationCanceledException)
        {
            return null;
        }
        return pdu;
    }

    /// <summary>Sends <paramref name="pdu"/> with ExpCmdSN/MaxCmdSN stamped; StatSN is the test's business.</summary>
    public void Send(Pdu pdu)
    {
        pdu.Field28 = ExpCmdSN;
        pdu.Field32 = MaxCmdSN;
        _writer!.Enqueue(pdu);
    }

    public void SendScsiResponse(uint itt, byte status = 0)
    {
        var response = new Pdu { Opcode = IscsiOpcode.ScsiResponse, Flags = 0x80, InitiatorTaskTag = itt };
        response.Bhs[3] = status;
        response.Field24 = StatSN++;
        Send(response);
    }

    public ValueTask DisposeAsync()
    {
        _socket?.Dispose();
        _listener.Dispose();
        return ValueTask.CompletedTask;
    }
}
