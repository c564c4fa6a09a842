using Iser.Core.Diagnostics;
using Iser.Core.Iscsi.Login;
using Iser.Core.Iscsi.Pdus;
using Microsoft.Extensions.Logging;

namespace Iser.Core.Iscsi.Target;

internal sealed partial class TargetConnection
{
    /// <summary>
    /// Runs the login phase (RFC 7143 §6): each Login Request goes through the negotiator; the final response
    /// binds the session, and only once it is on the wire does the datamover switch to full feature mode
    /// (digests start with the next PDU).
    /// </summary>
    private async Task<bool> LoginAsync(CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(Options.LoginTimeout);
        TargetNode? node = null;
        var policy = new TargetLoginPolicy
        {
            Limits = Options.ToLimits(iser: Datamover.PlacesDataDirectly),
            IsIserConnection = Datamover.PlacesDataDirectly,
            TargetPortalGroupTag = PortalGroupTag,
            LookupTarget = request =>
            {
                if (request.IsDiscovery) return new TargetLookupResult { Outcome = TargetLookupOutcome.Found };
                node = _target.FindNode(request.TargetName);
                if (node is null) return new TargetLookupResult { Outcome = TargetLookupOutcome.NotFound };
                if (!node.Allows(request.InitiatorName)) return new TargetLookupResult { Outcome = TargetLookupOutcome.NotAuthorized };
                return new TargetLookupResult
                {
                    Outcome = TargetLookupOutcome.Found,
                    TargetAlias = node.Alias,
                    InitiatorCredentials = node.InitiatorChap,
                    TargetCredentials = node.TargetChap,
                    ChapAlgorithms = node.ChapAlgorithms,
                };
            },
        };
        var negotiator = new TargetLoginNegotiator(policy, _target.LoggerFactory.CreateLogger("Iser.Target.Login"));
        bool first = true;
        ulong isid = 0;
        ushort cid = 0;
        while (true)
        {
            Pdu? request;
            try
            {
                request = await Datamover.ReceiveControlAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                _logger.LogWarning("{Remote}: login not completed within {Timeout}", Datamover.RemoteEndPoint, Options.LoginTimeout);
                TargetMetrics.LoginEnded("timeout");
                return false;
            }
            if (request is null) return false;
            try
            {
                if (request.Opcode != IscsiOpcode.LoginRequest)
                {
                    _logger.LogWarning("{Remote}: {Opcode} received before login completed; closing", Datamover.RemoteEndPoint, request.Opcode);
                    await SendLoginResponseAsync(request, FailureFrame(request, LoginStatus.InitiatorError), tsih: 0).ConfigureAwait(false);
                    TargetMetrics.LoginEnded(LoginResult(LoginStatus.InitiatorError));
                    return false;
                }
                var frame = ToFrame(request);
                if (first)
                {
                    // The target picks its first StatSN; starting from the initiator's ExpStatSN keeps both in step.
                    _statSN = request.Field28;
                    isid = frame.Isid;
                    cid = frame.Cid;
                    first = false;
                }
                var response = negotiator.Process(frame);
                if (negotiator.Failed)
                {
                    _logger.LogWarning("{Remote}: login refused: {Status}", Datamover.RemoteEndPoint, response.Status.Describe());
                    await SendLoginResponseAsync(request, response, tsih: 0).ConfigureAwait(false);
                    TargetMetrics.LoginEnded(LoginResult(response.Status));
                    return false;
                }
                if (!negotiator.IsComplete)
                {
                    await SendLoginResponseAsync(request, response, tsih: 0, wait: false).ConfigureAwait(false);
                    continue;
                }
                var result = negotiator.Result;
                var (session, status) = await _target.BindSessionAsync(result, node, isid, frame.Tsih, cid, frame.CmdSN, this).ConfigureAwait(false);
                if (session is null)
                {
                    _logger.LogWarning("{Remote}: login refused: {Status}", Datamover.RemoteEndPoint, status.Describe());
                    await SendLoginResponseAsync(request, FailureFrame(request, status), tsih: 0).ConfigureAwait(false);
                    TargetMetrics.LoginEnded(LoginResult(status));
                    return false;
                }
                // A login into an existing session negotiated only connection keys: the rest are the session's.
                if (frame.Tsih != 0) result = session.Negotiated.ForAddedConnection(result);
                Datamover.NoticeKeyValues(result.Connection);
                Negotiated = result;
                Cid = cid;
                Session = session;
                await SendLoginResponseAsync(request, response, session.Tsih).ConfigureAwait(false);
                Datamover.EnableDatamover(this);
                _logger.LogInformation("{Remote}: logged in {Session} over {Transport}", Datamover.RemoteEndPoint, session.Describe(), Datamover.TransportName);
                TargetMetrics.LoginEnded("success");
                return true;
            }
            finally
            {
                PduPool.Return(request);
            }
        }
    }

    private static LoginRequestFrame ToFrame(Pdu pdu)
    {
        byte f = pdu.Flags;
        var b = pdu.Bhs;
        ulong isid = ((ulong)b[8] << 40) | ((ulong)b[9] << 32) | ((ulong)b[10] << 24) | ((ulong)b[11] << 16) | ((ulong)b[12] << 8) | b[13];
        return new LoginRequestFrame(
            Transit: (f & 0x80) != 0,
            Continue: (f & 0x40) != 0,
            CurrentStage: (LoginStage)((f >> 2) & 3),
            NextStage: (LoginStage)(f & 3),
            VersionMax: b[2],
            VersionMin: b[3],
            Isid: isid,
            Tsih: (ushort)((b[14] << 8) | b[15]),
            Cid: (ushort)((b[20] << 8) | b[21]),
            CmdSN: pdu.Field24,
            TextData: pdu.Data);
    }

    private static LoginResponseFrame FailureFrame(Pdu request, LoginStatus status) =>
        new(false, false, (LoginStage)((request.Flags >> 2) & 3), (LoginStage)((request.Flags >> 2) & 3), status, 0, 0, ReadOnlyMemory<byte>.Empty);

    private async ValueTask SendLoginResponseAsync(Pdu request, LoginResponseFrame frame, ushort tsih, bool wait = true)
    {
        var pdu = PduPool.Rent();
        pdu.Opcode = IscsiOpcode.LoginResponse;
        byte flags = (byte)(((byte)frame.CurrentStage & 3) << 2 | ((byte)frame.NextStage & 3));
        if (frame.Transit) flags |= 0x80;
        if (frame.Continue) flags |= 0x40;
        pdu.Flags = flags;
        pdu.Bhs[2] = frame.VersionMax;
        pdu.Bhs[3] = frame.VersionActive;
        request.Bhs.AsSpan(8, 6).CopyTo(pdu.Bhs.AsSpan(8));
        pdu.Bhs[14] = (byte)(tsih >> 8);
        pdu.Bhs[15] = (byte)tsih;
        pdu.InitiatorTaskTag = request.InitiatorTaskTag;
        pdu.Field24 = _statSN++;
        // Login does not advance CmdSN: the first command after login reuses the login's CmdSN.
        pdu.Field28 = request.Field24;
        pdu.Field32 = request.Field24 + (uint)Options.CommandQueueDepth - 1;
        pdu.Bhs[36] = frame.Status.StatusClass;
        pdu.Bhs[37] = frame.Status.StatusDetail;
        pdu.SetData(frame.TextData.Span);
        TaskCompletionSource? sent = null;
        if (wait)
        {
            sent = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            pdu.SentNotification = new SentSignal(sent);
        }
        await Datamover.SendControlAsync(pdu).ConfigureAwait(false);
        if (sent is not null)
        {
            // The final response must be on the wire before digests or iSER mode switch on.
            await sent.Task.WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        }
    }

    private sealed class SentSignal(TaskCompletionSource done) : IPduSentNotification
    {
        public void OnPduSent(Pdu pdu, Exception? error)
        {
            if (error is null) done.TrySetResult();
            else done.TrySetException(error);
        }
    }

    /// <summary>The metric's result tag for a refused login: its status class, in words (RFC 7143 §11.13.5).</summary>
    private static string LoginResult(LoginStatus status) => status.StatusClass switch
    {
        2 => "initiator_error",
        3 => "target_error",
        _ => "refused",
    };
}
