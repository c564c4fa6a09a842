using Iser.Core.Iscsi.Pdus;
using Iser.Core.Iscsi.Sessions;
using Iser.Core.Iscsi.Text;
using Iser.Core.Scsi.Target;
using Microsoft.Extensions.Logging;

namespace Iser.Core.Iscsi.Target;

internal sealed partial class TargetConnection
{
    private uint _pingTag;
    private volatile bool _pingOutstanding;
    private long _pingSentTicks;

    // ---------------- NOP ----------------

    private void HandleNopOut(Pdu pdu)
    {
        uint itt = pdu.InitiatorTaskTag, ttt = pdu.Field20;
        if (ttt != Pdu.ReservedTag)
        {
            // The initiator answering our ping (RFC 7143 §11.18): the link is alive.
            if (ttt == _pingTag) _pingOutstanding = false;
            return;
        }
        if (itt == Pdu.ReservedTag) return; // a one-way keep-alive: no answer wanted
        var reply = PduPool.Rent();
        reply.Opcode = IscsiOpcode.NopIn;
        reply.Flags = 0x80;
        reply.Lun = pdu.Lun;
        reply.InitiatorTaskTag = itt;
        reply.Field20 = Pdu.ReservedTag;
        // Ping data comes back unchanged (up to what the initiator can receive).
        int echo = Math.Min(pdu.Data.Length, Session!.Negotiated.Connection.MaxXmitDataSegmentLength);
        reply.SetData(pdu.Data.Span[..echo]);
        Send(reply);
    }

    /// <summary>
    /// When the initiator has been silent for <see cref="IscsiTargetOptions.NopInInterval"/>, ping it with a NOP-In that
    /// asks for a reply (TTT set); no reply within <see cref="IscsiTargetOptions.NopInTimeout"/> ends the connection.
    /// </summary>
    private async Task PingLoopAsync(CancellationToken ct)
    {
        // iSER has no transport keep-alive, so its heartbeat is on by default with a shorter interval.
        bool iser = Datamover.PlacesDataDirectly;
        var interval = iser ? Options.IserNopInInterval : Options.NopInInterval;
        var timeout = iser ? Options.IserNopInTimeout : Options.NopInTimeout;
        if (interval <= TimeSpan.Zero) return;
        var tick = TimeSpan.FromMilliseconds(Math.Clamp(interval.TotalMilliseconds / 4, 20, 1000));
        try
        {
            using var timer = new PeriodicTimer(tick);
            while (await timer.WaitForNextTickAsync(ct).ConfigureAwait(false))
            {
                long now = Environment.TickCount64;
                if (_pingOutstanding)
                {
                    if (now - _pingSentTicks > timeout.TotalMilliseconds)
                    {
                        string reason = $"initiator did not answer a NOP-In ping within {timeout.TotalSeconds:0.###} s";
                        _logger.LogWarning("{Remote}: {Reason}; closing the connection", Datamover.RemoteEndPoint, reason);
                        await CloseAsync(reason).ConfigureAwait(false);
                        return;
                    }
                    continue;
                }
                if (now - Volatile.Read(ref _lastReceiveTicks) < interval.TotalMilliseconds) continue;
                _pingTag = NextPingTag();
                _pingSentTicks = now;
                _pingOutstanding = true;
                var ping = PduPool.Rent();
                ping.Opcode = IscsiOpcode.NopIn;
                ping.Flags = 0x80;
                ping.InitiatorTaskTag = Pdu.ReservedTag;
                ping.Field20 = _pingTag;
                Send(ping);
            }
        }
        catch (OperationCanceledException) { }
    }

    private uint NextPingTag()
    {
        uint t = _pingTag + 1;
        return t is 0 or Pdu.ReservedTag ? 1 : t;
    }

    // ---------------- Task management ----------------

    private async Task HandleTaskManagementAsync(Pdu pdu, bool consumesSlot)
    {
        var session = Session!;
        byte function = (byte)(pdu.Flags & 0x7f);
        uint itt = pdu.InitiatorTaskTag, referenced = pdu.Field20, refCmdSN = pdu.Field32;
        ulong lun = pdu.Lun;
        uint tmfCmdSN = pdu.Field24;
        PduPool.Return(pdu);
        byte response;
        try
        {
            response = await ExecuteTaskManagementAsync(session, function, lun, referenced, refCmdSN, tmfCmdSN).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            _logger.LogError(e, "{Remote}: task management function {Function} failed", Datamover.RemoteEndPoint, function);
            response = 255; // Function rejected
        }
        var reply = PduPool.Rent();
        reply.Opcode = IscsiOpcode.TaskManagementResponse;
        reply.Flags = 0x80;
        reply.Bhs[2] = response;
        reply.InitiatorTaskTag = itt;
        Send(reply);
        if (consumesSlot) session.ReleaseSlot();
        if (function == 7 && response == 0) // TARGET COLD RESET: the connections go after the response
        {
            await Task.Delay(100).ConfigureAwait(false);
            foreach (var c in _target.ConnectionsOf(session.Node!).ToArray()) await c.CloseAsync("target cold reset").ConfigureAwait(false);
        }
    }

    /// <summary>RFC 7143 §11.5: returns the TMF response code.</summary>
    private async Task<byte> ExecuteTaskManagementAsync(TargetSession session, byte function, ulong lun, uint referenced, uint refCmdSN, uint tmfCmdSN)
    {
        var node = session.Node;
        if (node is null) return 255;
        switch (function)
        {
            case 1: // ABORT TASK
            {
                TargetTask? task;
                lock (_tasks) _tasks.TryGetValue(referenced, out task);
                if (task is null)
                {
                    // Not received yet but inside the window: it counts as received and will be ignored (§11.5.1 a).
                    bool pending = SerialNumber.InWindow(refCmdSN, session.ExpCmdSN, session.MaxCmdSN);
                    if (pending)
                    {
                        lock (_heldCommands)
                            if (_heldCommands.Remove(refCmdSN, out var held)) { PduPool.Return(held); session.Advance(); session.ReleaseSlot(); }
                    }
                    return pending ? (byte)0 : (byte)1; // Function complete / Task does not exist
                }
                // Zero means its response won the race: to the initiator the task no longer exists.
                return await AbortAsync([task]).ConfigureAwait(false) == 1 ? (byte)0 : (byte)1;
            }
            case 2: // ABORT TASK SET
            case 3: // CLEAR TASK SET
            {
                if (node.FindLun(lun) is null) return 2; // LUN does not exist
                await AbortAsync(TasksWhere(t => t.Lun == lun)).ConfigureAwait(false);
                return 0;
            }
            case 4: // CLEAR ACA: we never establish ACA (NACA is not supported)
                return node.FindLun(lun) is null ? (byte)2 : (byte)0;
            case 5: // LOGICAL UNIT RESET
            {
                var unit = node.FindLun(lun);
                if (unit is null) return 2;
                foreach (var c in _target.ConnectionsOf(node).ToArray())
                    await c.AbortAsync(c.TasksWhere(t => t.Lun == lun)).ConfigureAwait(false);
                unit.Reset(LogicalUnitResetKind.LogicalUnitReset);
                return 0;
            }
            case 6: // TARGET WARM RESET
            case 7: // TARGET COLD RESET
            {
                foreach (var c in _target.ConnectionsOf(node).ToArray())
                    await c.AbortAsync(c.TasksWhere(_ => true)).ConfigureAwait(false);
                foreach (var unit in node.Luns.Values)
                    unit.Reset(function == 6 ? LogicalUnitResetKind.TargetWarmReset : LogicalUnitResetKind.TargetColdReset);
                return 0;
            }
            case 8: // TASK REASSIGN needs ErrorRecoveryLevel 2
                return 4;
            default:
                return 5; // Task management function not supported
        }
    }

    private TargetTask[] TasksWhere(Func<TargetTask, bool> predicate)
    {
        lock (_tasks) return _tasks.Values.Where(predicate).ToArray();
    }

    /// <summary>
    /// Aborts tasks and waits (bounded) until each has left the logical unit, so none is freed under it.
    /// A task already claimed by its response is left alone. Returns how many were aborted.
    /// </summary>
    private async Task<int> AbortAsync(TargetTask[] tasks)
    {
        if (tasks.Length == 0) return 0;
        var waits = new List<Task>(tasks.Length);
        foreach (var t in tasks)
        {
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (_tasks)
            {
                if (!_tasks.TryGetValue(t.InitiatorTaskTag, out var live) || !ReferenceEquals(live, t)) continue;
                _tasks.Remove(t.InitiatorTaskTag);
                t.FinishedSignal = done;
                t.Aborted = true;
            }
            waits.Add(done.Task);
            t.Cancel();
            Datamover.EndTask(t);
        }
        await Task.WhenAny(Task.WhenAll(waits), Task.Delay(TimeSpan.FromSeconds(30))).ConfigureAwait(false);
        return waits.Count;
    }

    // ---------------- Text (SendTargets) ----------------

    private byte[]? _pendingText;
    private int _pendingTextOffset;
    private uint _pendingTextTag;
    private readonly MemoryStream _textRequestBuffer = new();

    private void HandleTextRequest(Pdu pdu)
    {
        var session = Session!;
        bool final = pdu.Final, cont = (pdu.Flags & 0x40) != 0;
        uint ttt = pdu.Field20;
        int limit = session.Negotiated.Connection.MaxXmitDataSegmentLength;
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
            Send(ack);
            return;
        }
        var requestText = _textRequestBuffer.ToArray();
        _textRequestBuffer.SetLength(0);
        _pendingText = BuildTextAnswer(session, requestText);
        if (_pendingText is null)
        {
            SendReject(RejectReason.ProtocolError, pdu);
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
            _logger.LogWarning("{Remote}: malformed text request: {Error}", Datamover.RemoteEndPoint, e.Message);
            return null;
        }
        var answer = new List<TextKeyValue>();
        foreach (var pair in pairs)
        {
            if (pair.Key != KeyNames.SendTargets)
            {
                _logger.LogWarning("{Remote}: text request with key {Key} refused: only SendTargets is served in full feature phase",
                    Datamover.RemoteEndPoint, pair.Key);
                return null;
            }
            var visible = _target.Nodes
                .Where(n => (session.IsDiscovery || ReferenceEquals(n, session.Node)) && n.Allows(session.InitiatorName))
                .Select(n => new DiscoverableTarget(n.Iqn, _target.Listeners
                    .Select(l => new TargetPortal(l.LocalEndPoint.Address.ToString(), l.LocalEndPoint.Port, n.PortalGroupTag))
                    .Distinct().ToList()))
                .ToList();
            var targets = SendTargetsResponder.BuildPairs(pair.Value, visible, session.Node?.Iqn);
            if (targets is [{ Value: NegotiationValues.Reject }])
            {
                _logger.LogWarning("{Remote}: SendTargets={Value} refused: not All, empty, or an iSCSI name", Datamover.RemoteEndPoint, pair.Value);
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
        Send(reply);
    }

    private uint _textTag;
    private uint NextTextTag()
    {
        uint t = ++_textTag;
        return t == Pdu.ReservedTag ? ++_textTag : t;
    }

    // ---------------- Logout ----------------

    /// <summary>
    /// Logout (RFC 7143 §11.14): outstanding commands finish first so their responses precede the Logout Response;
    /// then the connection closes once the response is out. Returns false to stop the receive loop.
    /// </summary>
    private bool HandleLogout(Pdu pdu, bool consumesSlot)
    {
        byte reason = (byte)(pdu.Flags & 0x7f);
        uint itt = pdu.InitiatorTaskTag;
        PduPool.Return(pdu);
        if (reason == 2)
        {
            // Removing a connection for recovery needs ErrorRecoveryLevel 2.
            SendLogoutResponse(itt, 2, close: false);
            if (consumesSlot) Session!.ReleaseSlot();
            return true;
        }
        _logoutCompletion = CompleteLogoutAsync(itt, consumesSlot);
        return false;
    }

    /// <summary>The Logout Response still to come (after the connection's tasks); the reader keeps the connection up for it.</summary>
    private Task? _logoutCompletion;

    private async Task CompleteLogoutAsync(uint itt, bool consumesSlot)
    {
        var deadline = Environment.TickCount64 + 30_000;
        while (Environment.TickCount64 < deadline)
        {
            lock (_tasks) if (_tasks.Count == 0) break;
            await Task.Delay(5).ConfigureAwait(false);
        }
        if (consumesSlot) Session!.ReleaseSlot();
        SendLogoutResponse(itt, 0, close: true);
    }

    private void SendLogoutResponse(uint itt, byte response, bool close)
    {
        var reply = PduPool.Rent();
        reply.Opcode = IscsiOpcode.LogoutResponse;
        reply.Flags = 0x80;
        reply.Bhs[2] = response;
        reply.InitiatorTaskTag = itt;
        if (close) reply.SentNotification = new CloseAfterSend(this);
        Send(reply);
    }

    private sealed class CloseAfterSend(TargetConnection connection) : IPduSentNotification
    {
        public void OnPduSent(Pdu pdu, Exception? error) => _ = connection.CloseAsync("logged out");
    }

    /// <summary>Asks the initiator to log out (Async Message, AsyncEvent 1), used at shutdown.</summary>
    public void RequestLogout()
    {
        if (Session is null) return;
        var message = PduPool.Rent();
        message.Opcode = IscsiOpcode.AsyncMessage;
        message.Flags = 0x80;
        message.InitiatorTaskTag = Pdu.ReservedTag;
        message.Field20 = Pdu.ReservedTag;
        message.Bhs[36] = 1; // target requests logout
        int seconds = (int)Math.Max(1, Options.LogoutGracePeriod.TotalSeconds);
        message.Bhs[42] = (byte)(seconds >> 8); // Parameter3: time to logout
        message.Bhs[43] = (byte)seconds;
        Send(message);
    }

    // ---------------- Reject ----------------

    private void SendReject(RejectReason reason, Pdu offending) => Send(RejectPdu.Rent(reason, offending));
}
