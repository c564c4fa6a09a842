using System.Threading.Channels;
using Iser.Core.Datamover;
using Iser.Core.Iscsi.Pdus;
using Iser.Core.Iscsi.Text;

namespace Iser.Bench;

/// <summary>
/// An initiator datamover with a target folded in, for measuring the initiator alone: it answers the login (each
/// offered key with its first value), and answers every SCSI Command at once with GOOD status pushed to the session's
/// receiver on the submitting thread, as iSER would after placing the data (no Data-In). So one command's submit,
/// dispatch and completion run with no network, no thread hop and no waiting.
/// </summary>
internal sealed class AnsweringDatamover : IInitiatorDatamover
{
    private const int Window = 64;
    private readonly Channel<Pdu> _loginReplies = Channel.CreateUnbounded<Pdu>();
    private IDatamoverHost? _host;
    private IPduReceiver? _receiver;
    private uint _statSN = 1;

    public string TransportName => "in-memory";
    public string LocalEndPoint => "memory";
    public string RemoteEndPoint => "memory";
    public bool PlacesDataDirectly => true;

    public ValueTask SendCommandAsync(DataTask task, Pdu command, Memory<byte> readBuffer, ReadOnlyMemory<byte> writeBuffer,
        CancellationToken cancellationToken = default) => SendControlAsync(command, cancellationToken);

    public void EndTask(DataTask task) { }

    public ValueTask SendControlAsync(Pdu pdu, CancellationToken cancellationToken = default)
    {
        _host?.OnSending(pdu); // stamps CmdSN and ExpStatSN, as a real writer does
        var reply = pdu.Opcode switch
        {
            IscsiOpcode.LoginRequest => LoginResponse(pdu),
            IscsiOpcode.ScsiCommand => Response(pdu, IscsiOpcode.ScsiResponse, 0x80),
            IscsiOpcode.LogoutRequest => Response(pdu, IscsiOpcode.LogoutResponse, 0x80),
            IscsiOpcode.NopOut when pdu.InitiatorTaskTag != Pdu.ReservedTag => Response(pdu, IscsiOpcode.NopIn, 0x80),
            _ => null,
        };
        PduPool.Return(pdu);
        if (reply is null) return ValueTask.CompletedTask;
        if (_receiver is { } receiver) receiver.OnPduReceived(reply);
        else _loginReplies.Writer.TryWrite(reply);
        return ValueTask.CompletedTask;
    }

    private Pdu Response(Pdu request, IscsiOpcode opcode, byte flags)
    {
        var reply = PduPool.Rent();
        reply.Opcode = opcode;
        reply.Flags = flags;
        reply.InitiatorTaskTag = request.InitiatorTaskTag;
        if (opcode == IscsiOpcode.NopIn) reply.Field20 = Pdu.ReservedTag;
        reply.Field24 = _statSN++;
        uint cmdSN = request.Field24;
        reply.Field28 = cmdSN + 1;
        reply.Field32 = cmdSN + Window;
        return reply;
    }

    private Pdu LoginResponse(Pdu request)
    {
        bool transit = (request.Flags & 0x80) != 0;
        int csg = (request.Flags >> 2) & 3, nsg = request.Flags & 3;
        var answers = new List<TextKeyValue>();
        foreach (var pair in TextKeyValueCodec.Parse(request.Data.Span))
        {
            if (pair.Key is KeyNames.InitiatorName or KeyNames.InitiatorAlias or KeyNames.SessionType or KeyNames.TargetName) continue;
            answers.Add(new TextKeyValue(pair.Key, pair.Key == KeyNames.AuthMethod ? "None" : pair.Value.Split(',')[0]));
        }
        var reply = PduPool.Rent();
        reply.Opcode = IscsiOpcode.LoginResponse;
        reply.Flags = (byte)((transit ? 0x80 : 0) | (csg << 2) | nsg);
        request.Bhs.AsSpan(8, 6).CopyTo(reply.Bhs.AsSpan(8)); // ISID
        if (transit && nsg == 3) reply.Bhs[15] = 1;          // TSIH
        reply.InitiatorTaskTag = request.InitiatorTaskTag;
        reply.Field24 = _statSN++;
        reply.Field28 = request.Field24;
        reply.Field32 = request.Field24 + Window - 1;
        reply.SetData(TextKeyValueCodec.Encode(answers));
        return reply;
    }

    public async ValueTask<Pdu?> ReceiveControlAsync(CancellationToken cancellationToken = default) =>
        await _loginReplies.Reader.ReadAsync(cancellationToken);

    public void StartReceiving(IPduReceiver receiver, bool busyPoll = false) => _receiver = receiver;
    public void NoticeKeyValues(ConnectionParameters parameters) { }
    public void EnableDatamover(IDatamoverHost host) => _host = host;
    public ValueTask TerminateAsync(string reason) => ValueTask.CompletedTask;
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}

/// <summary>Connects every session to a fresh <see cref="AnsweringDatamover"/>.</summary>
internal sealed class AnsweringTransport : IInitiatorTransport
{
    public string TransportName => "in-memory";
    public ValueTask<IInitiatorDatamover> ConnectAsync(string host, int port, CancellationToken cancellationToken) =>
        ValueTask.FromResult<IInitiatorDatamover>(new AnsweringDatamover());
}
