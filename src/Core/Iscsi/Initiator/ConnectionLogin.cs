using Iser.Core.Datamover;
using Iser.Core.Iscsi.Login;
using Iser.Core.Iscsi.Pdus;
using Microsoft.Extensions.Logging;

namespace Iser.Core.Iscsi.Initiator;

/// <summary>
/// Opens one connection of a session and logs it in (RFC 7143 §6): the transport's connect, the login exchange that
/// <see cref="InitiatorLoginNegotiator"/> drives, and the switch of the datamover into full feature phase. Used for the
/// first connection and for each one recovery opens.
/// </summary>
internal sealed class ConnectionLogin(IscsiSessionOptions options, IInitiatorTransport transport, ulong isid, ILogger loginLogger, ILogger pduLogger)
{
    private readonly IscsiSessionOptions _options = options;
    private readonly IInitiatorTransport _transport = transport;
    private readonly ulong _isid = isid;
    private readonly ILogger _loginLogger = loginLogger;
    private readonly ILogger _pduLogger = pduLogger;

    private string Portal => _options.Portal;

    private const uint LoginTag = 0;

    /// <summary>
    /// Opens a connection and runs the login on it: a new session (TSIH 0, this session's ISID, a new CmdSN window), or
    /// with <paramref name="resume"/> a connection into the existing session (its TSIH and window) with the ID
    /// <paramref name="cid"/>: one more (MC/S), or one that replaces a failed connection (ERL 2).
    /// </summary>
    public async Task<(InitiatorConnection Connection, NegotiatedSession Negotiated, ushort Tsih)> ConnectAsync(CancellationToken ct,
        SessionResume? resume = null, ushort cid = 0)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(_options.LoginTimeout);
        IInitiatorDatamover datamover;
        try
        {
            datamover = await _transport.ConnectAsync(_options.Host, _options.Port, timeout.Token).ConfigureAwait(false);
        }
        catch (DatamoverException e)
        {
            throw new IscsiConnectionException(e.Message, e);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new IscsiConnectionException($"Connecting to {Portal} over {_transport.TransportName} did not succeed within {_options.LoginTimeout.TotalSeconds:0.###} s.");
        }
        try
        {
            return await LoginAsync(datamover, resume, cid, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            await datamover.TerminateAsync("login failed").ConfigureAwait(false);
            if (e is OperationCanceledException && !ct.IsCancellationRequested)
                throw new IscsiLoginException($"The login to {_options.TargetName ?? "discovery"} at {Portal} did not complete within {_options.LoginTimeout.TotalSeconds:0.###} s.");
            if (e is DatamoverException)
                throw new IscsiConnectionException($"The connection to {Portal} broke during login: {e.Message}", e);
            throw;
        }
    }

    private async Task<(InitiatorConnection, NegotiatedSession, ushort)> LoginAsync(IInitiatorDatamover datamover, SessionResume? resume,
        ushort cid, CancellationToken ct)
    {
        var loginOptions = _options.ToLoginOptions(_isid, cmdSN: resume?.Window.NextCmdSN ?? 1, iser: datamover.PlacesDataDirectly,
            tsih: resume?.Tsih ?? 0, cid: cid);
        var negotiator = new InitiatorLoginNegotiator(loginOptions, _loginLogger);
        var frame = negotiator.FirstRequest();
        // A login into the session carries the failed connection's ExpStatSN (RFC 7143 §11.12.5), which acknowledges its
        // statuses so the target can drop what it kept for them.
        uint expStatSN = resume?.ExpStatSN ?? 0;
        while (true)
        {
            await datamover.SendControlAsync(BuildLoginPdu(frame, expStatSN), ct).ConfigureAwait(false);
            var response = await datamover.ReceiveControlAsync(ct).ConfigureAwait(false)
                ?? throw new IscsiConnectionException($"The target at {Portal} closed the connection during login.");
            try
            {
                if (response.Opcode != IscsiOpcode.LoginResponse)
                    throw new IscsiLoginException($"The target sent a {response.Opcode} PDU during login, where only a Login Response may come.");
                expStatSN = response.Field24 + 1;
                var next = negotiator.Process(ToResponseFrame(response));
                if (next is { } request)
                {
                    frame = request;
                    continue;
                }
                if (!negotiator.IsComplete)
                    throw new IscsiLoginException(
                        $"Login to {_options.TargetName ?? "discovery"} at {Portal} failed: {negotiator.FailureReason ?? "no reason given"}", negotiator.FailureStatus);
                var result = negotiator.Result;
                if (resume is { } into) result = into.Leading.ForAddedConnection(result);
                ushort tsih = (ushort)((response.Bhs[14] << 8) | response.Bhs[15]);
                datamover.NoticeKeyValues(result.Connection);
                // Login is immediate and consumes no CmdSN: the first command carries the login's own CmdSN
                // (RFC 7143 §3.2.2.1). Taking the response's ExpCmdSN instead breaks against tgtd's iSER path, whose
                // final Login Response says one more than the session then waits for.
                var window = resume?.Window ?? new CommandWindow(expCmdSN: frame.CmdSN, maxCmdSN: response.Field32);
                if (resume is not null) window.Update(response);
                var connection = new InitiatorConnection(datamover, window, cid, expStatSN, _pduLogger, result.ErrorRecoveryLevel);
                // Digests (and iSER mode) start with the first PDU after the final Login Response.
                datamover.EnableDatamover(connection);
                return (connection, result, tsih);
            }
            finally
            {
                PduPool.Return(response);
            }
        }
    }

    private static Pdu BuildLoginPdu(in LoginRequestFrame frame, uint expStatSN)
    {
        var pdu = PduPool.Rent();
        pdu.Opcode = IscsiOpcode.LoginRequest;
        pdu.Immediate = true; // RFC 7143 §11.12: the I bit is always 1 in a Login Request
        byte flags = (byte)((((byte)frame.CurrentStage & 3) << 2) | ((byte)frame.NextStage & 3));
        if (frame.Transit) flags |= 0x80;
        if (frame.Continue) flags |= 0x40;
        pdu.Flags = flags;
        pdu.Bhs[2] = frame.VersionMax;
        pdu.Bhs[3] = frame.VersionMin;
        for (int i = 0; i < 6; i++) pdu.Bhs[8 + i] = (byte)(frame.Isid >> (40 - 8 * i));
        pdu.Bhs[14] = (byte)(frame.Tsih >> 8);
        pdu.Bhs[15] = (byte)frame.Tsih;
        pdu.InitiatorTaskTag = LoginTag;
        pdu.Bhs[20] = (byte)(frame.Cid >> 8);
        pdu.Bhs[21] = (byte)frame.Cid;
        pdu.Field24 = frame.CmdSN;
        pdu.Field28 = expStatSN;
        pdu.SetData(frame.TextData.Span);
        return pdu;
    }

    private static LoginResponseFrame ToResponseFrame(Pdu pdu)
    {
        byte f = pdu.Flags;
        return new LoginResponseFrame(
            Transit: (f & 0x80) != 0,
            Continue: (f & 0x40) != 0,
            CurrentStage: (LoginStage)((f >> 2) & 3),
            NextStage: (LoginStage)(f & 3),
            Status: new LoginStatus(pdu.Bhs[36], pdu.Bhs[37]),
            VersionMax: pdu.Bhs[2],
            VersionActive: pdu.Bhs[3],
            TextData: pdu.Data);
    }
}

/// <summary>
/// What a login into an existing session needs (MC/S, ERL 2): its TSIH, its CmdSN window, its negotiated values, and
/// the ExpStatSN that acknowledges a failed connection's statuses when the new one replaces it (0 for one more).
/// </summary>
internal sealed record SessionResume(ushort Tsih, CommandWindow Window, uint ExpStatSN, NegotiatedSession Leading);
