using Iser.Core.Iscsi.Pdus;
using Iser.Core.Iscsi.Text;
using Microsoft.Extensions.Logging;

namespace Iser.Core.Iscsi.Target;

/// <summary>
/// Text Requests in full feature phase on one target connection (RFC 7143 §11.10): SendTargets only, with long
/// requests gathered (C bit) and long answers sent in parts the initiator asks for by Target Transfer Tag.
/// </summary>
internal sealed class TargetTextExchange(TargetConnection connection, IscsiTarget target, ILogger logger)
{
    private readonly TargetConnection _connection = connection;
    private readonly IscsiTarget _target = target;
    private readonly ILogger _logger = logger;

    private byte[]? _pendingText;
    private int _pendingTextOffset;
    private uint _pendingTextTag;
    private readonly MemoryStream _textRequestBuffer = new();

    public void Handle(Pdu pdu)
    {
        var session = _connection.Session!;
        bool final = pdu.Final, cont = (pdu.Flags & 0x40) != 0;
        uint ttt = pdu.Field20;
        int limit = _connection.Negotiated!.Connection.MaxXmitDataSegmentLength;
        if (ttt != Pdu.ReservedTag && _pendingText is not null && ttt == _pendingTextTag)
        {
            SendTextChunk(pdu, limit); // the initiator asks for the next part of a long answer
            return;
        }
        _pendingText = null;
        _textRequestBuffer.Write(pdu.Data.Span);
        if (cont || !final)
        {
            // More request text follows (C bit): acknowledge with an empty response (RFC 7143 §11.10.2).
            var ack = PduPool.Rent();
            ack.Opcode = IscsiOpcode.TextResponse;
            ack.InitiatorTaskTag = pdu.InitiatorTaskTag;
            ack.Lun = pdu.Lun;
            ack.Field20 = NextTextTag();
            _connection.Send(ack);
            return;
        }
        var requestText = _textRequestBuffer.ToArray();
        _textRequestBuffer.SetLength(0);
        _pendingText = BuildTextAnswer(session, requestText);
        if (_pendingText is null)
        {
            _connection.Reject(RejectReason.ProtocolError, pdu);
            return;
        }
        _pendingTextOffset = 0;
        SendTextChunk(pdu, limit);
    }

    /// <summary>
    /// The answer to a full-feature Text Request, or null when the request is to be refused with a Reject PDU.
    /// Only SendTargets is served in full feature phase; anything else (an unknown key, a misspelt one, an invalid
    /// SendTargets value) is refused as a whole, since initiators such as libiscsi tear the connection down on any
    /// key they did not ask for in the answer, while a Reject fails just that request.
    /// </summary>
    private byte[]? BuildTextAnswer(TargetSession session, byte[] requestText)
    {
        List<TextKeyValue> pairs;
        try
        {
            pairs = TextKeyValueCodec.Parse(requestText);
        }
        catch (TextFormatException e)
        {
            _logger.LogWarning("{Remote}: malformed text request: {Error}", _connection.Datamover.RemoteEndPoint, e.Message);
            return null;
        }
        var answer = new List<TextKeyValue>();
        foreach (var pair in pairs)
        {
            if (pair.Key != KeyNames.SendTargets)
            {
                _logger.LogWarning("{Remote}: text request with key {Key} refused: only SendTargets is served in full feature phase",
                    _connection.Datamover.RemoteEndPoint, pair.Key);
                return null;
            }
            var visible = _target.Nodes
                .Where(n => (session.IsDiscovery || ReferenceEquals(n, session.Node)) && n.Allows(session.InitiatorName))
                .Select(n => new DiscoverableTarget(n.Iqn, _target.Portals
                    .Select(p => new TargetPortal(p.Listener.LocalEndPoint.Address.ToString(), p.Listener.LocalEndPoint.Port, p.PortalGroupTag))
                    .Distinct().ToList()))
                .ToList();
            var targets = SendTargetsResponder.BuildPairs(pair.Value, visible, session.Node?.Iqn);
            if (targets is [{ Value: NegotiationValues.Reject }])
            {
                _logger.LogWarning("{Remote}: SendTargets={Value} refused: not All, empty, or an iSCSI name", _connection.Datamover.RemoteEndPoint, pair.Value);
                return null;
            }
            answer.AddRange(targets);
        }
        return TextKeyValueCodec.Encode(answer);
    }

    private void SendTextChunk(Pdu request, int limit)
    {
        var text = _pendingText ?? [];
        int length = Math.Min(limit, text.Length - _pendingTextOffset);
        bool more = _pendingTextOffset + length < text.Length;
        var reply = PduPool.Rent();
        reply.Opcode = IscsiOpcode.TextResponse;
        reply.Flags = (byte)(more ? 0x40 : 0x80);
        reply.InitiatorTaskTag = request.InitiatorTaskTag;
        reply.Lun = request.Lun;
        reply.Field20 = more ? (_pendingTextTag = NextTextTag()) : Pdu.ReservedTag;
        reply.SetData(text.AsSpan(_pendingTextOffset, length));
        _pendingTextOffset += length;
        if (!more) _pendingText = null;
        _connection.Send(reply);
    }

    private uint _textTag;
    private uint NextTextTag()
    {
        uint t = ++_textTag;
        return t == Pdu.ReservedTag ? ++_textTag : t;
    }
}
