using Iser.Core.Iscsi.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Iser.Core.Iscsi.Login;

/// <summary>
/// The initiator's half of login (RFC 7143 §6, §11.12-11.13; RFC 7145 §6), free of any transport: builds the first
/// request, then turns each Login Response into the next request until full feature phase or failure
/// (<see cref="FailureReason"/> is a sentence). Handles CHAP (one-way and mutual), the target's own offers, and the
/// C bit both ways.
/// </summary>
public sealed class InitiatorLoginNegotiator
{
    public const byte SupportedVersion = 0x00;
    private const int MaxExchanges = 64;

    private static readonly string[] NormalSessionOffers =
    {
        KeyNames.HeaderDigest, KeyNames.DataDigest, KeyNames.MaxConnections, KeyNames.InitialR2T, KeyNames.ImmediateData,
        KeyNames.MaxBurstLength, KeyNames.FirstBurstLength, KeyNames.DefaultTime2Wait, KeyNames.DefaultTime2Retain,
        KeyNames.MaxOutstandingR2T, KeyNames.DataPduInOrder, KeyNames.DataSequenceInOrder, KeyNames.ErrorRecoveryLevel,
    };

    private static readonly string[] DiscoverySessionOffers =
    {
        KeyNames.HeaderDigest, KeyNames.DataDigest, KeyNames.DefaultTime2Wait, KeyNames.DefaultTime2Retain, KeyNames.ErrorRecoveryLevel,
    };

    private readonly InitiatorLoginOptions _options;
    private readonly ILogger _logger;
    private readonly LoginKeyLedger _ledger = new();
    private readonly TextSegmentAssembler _incoming = new();
    private readonly Queue<ReadOnlyMemory<byte>> _outgoing = new();
    private readonly bool _discovery;

    private LoginStage _stage = LoginStage.SecurityNegotiation;
    private bool _started;
    private bool _lastTransit;
    private LoginStage _lastNextStage;
    private bool _pendingTransit;
    private LoginStage _pendingNextStage;
    private string? _authMethod;
    private ChapInitiatorExchange? _chap;
    private bool _chapAlgorithmsSent;
    private bool _operationalOffered;
    private int _exchanges;
    private NegotiatedSession? _result;
    private string? _targetAlias;
    private ushort? _portalGroupTag;

    public InitiatorLoginNegotiator(InitiatorLoginOptions options, ILogger? logger = null)
    {
        _options = options ?? throw new ArgumentNullException(nameof(options));
        _logger = logger ?? NullLogger.Instance;
        _discovery = options.EffectiveSessionType == IscsiSessionType.Discovery;
        if (!_discovery && string.IsNullOrEmpty(options.TargetName))
            throw new ArgumentException("A normal session needs a TargetName.", nameof(options));
        if (options.MutualChap is not null && options.Chap is null)
            throw new ArgumentException("Mutual CHAP needs the initiator's own CHAP credentials as well.", nameof(options));
        if (options.Chap is { } chap && ChapAuthenticator.IsWeakSecret(chap.Secret))
            _logger.LogWarning("The CHAP secret for {User} is shorter than the 12 bytes RFC 7143 asks for.", chap.UserName);
    }

    public bool IsComplete { get; private set; }
    public string? FailureReason { get; private set; }
    /// <summary>The status of the failing Login Response, when the target refused (null for failures detected here).</summary>
    public LoginStatus? FailureStatus { get; private set; }
    /// <summary>On a redirection (status class 1): the TargetAddress the target gave.</summary>
    public string? RedirectAddress { get; private set; }
    public LoginStage CurrentStage => _stage;
    public IReadOnlyList<NegotiatedKey> Keys => _ledger.Entries;
    public NegotiatedSession Result => _result ?? throw new InvalidOperationException("The login is not complete.");

    /// <summary>The first Login Request: identities and AuthMethod, in the security stage asking to move on.</summary>
    public LoginRequestFrame FirstRequest()
    {
        if (_started) throw new InvalidOperationException("FirstRequest was already called.");
        _started = true;
        var pairs = new List<TextKeyValue>();
        Declare(pairs, KeyNames.InitiatorName, _options.InitiatorName);
        if (_options.InitiatorAlias is { } alias) Declare(pairs, KeyNames.InitiatorAlias, alias);
        // SessionType is leading-only (RFC 7143 §13.21): a login into an existing session (TSIH set) does not send it.
        if (_options.Tsih == 0) Declare(pairs, KeyNames.SessionType, _discovery ? "Discovery" : "Normal");
        if (!_discovery) Declare(pairs, KeyNames.TargetName, _options.TargetName!);
        string authMethods = _options.Chap is null ? NegotiationValues.None : _options.MutualChap is null ? "CHAP,None" : "CHAP";
        Offer(pairs, KeyNames.AuthMethod, authMethods);
        return Build(pairs, transit: true, LoginStage.LoginOperationalNegotiation);
    }

    /// <summary>Feeds one Login Response; returns the next request, or null when the login is over (see <see cref="IsComplete"/>).</summary>
    public LoginRequestFrame? Process(in LoginResponseFrame response)
    {
        if (!_started) throw new InvalidOperationException("Call FirstRequest first.");
        if (IsComplete || FailureReason is not null) throw new InvalidOperationException("The login is already over.");
        try
        {
            return ProcessCore(response);
        }
        catch (LoginFailure failure)
        {
            FailureReason = failure.Message;
            if (!failure.Status.IsSuccess && failure.Status != LoginStatus.InitiatorError) FailureStatus = failure.Status;
            _logger.LogWarning("Login to {Target} failed: {Reason}", _options.TargetName ?? "discovery", failure.Message);
            return null;
        }
    }

    private LoginRequestFrame? ProcessCore(in LoginResponseFrame response)
    {
        if (++_exchanges > MaxExchanges)
            throw new LoginFailure(LoginStatus.InitiatorError, $"The login did not finish within {MaxExchanges} exchanges.");
        if (!response.Status.IsSuccess)
        {
            FailureStatus = response.Status;
            string reason = $"The target refused the login: {response.Status.Describe()}.";
            if (response.Status.IsRedirect && TextKeyValueCodec.TryParse(response.TextData.Span, out var redirect, out _))
            {
                RedirectAddress = redirect.FirstOrDefault(p => p.Key == KeyNames.TargetAddress).Value;
                if (RedirectAddress is not null) reason += $" It points to {RedirectAddress}.";
            }
            FailureReason = reason;
            _logger.LogWarning("Login to {Target} refused: {Reason}", _options.TargetName ?? "discovery", reason);
            return null;
        }
        if (response.VersionActive != SupportedVersion)
            throw new LoginFailure(LoginStatus.InitiatorError, $"The target chose iSCSI version 0x{response.VersionActive:x2}; only 0x00 was offered.");
        if (response.CurrentStage != _stage)
            throw new LoginFailure(LoginStatus.InitiatorError, $"The target answered for stage {response.CurrentStage} while the login is in stage {_stage}.");
        if (response.Transit)
        {
            if (!_lastTransit)
                throw new LoginFailure(LoginStatus.InitiatorError, "The target moved to the next stage although the initiator did not ask to.");
            if (response.NextStage <= _stage || response.NextStage > _lastNextStage || response.NextStage == (LoginStage)2)
                throw new LoginFailure(LoginStatus.InitiatorError,
                    $"The target moved to stage {(byte)response.NextStage}, not a stage between the current one and the requested {_lastNextStage}.");
            if (response.Continue)
                throw new LoginFailure(LoginStatus.InitiatorError, "The target set both the T and the C bit.");
        }

        // We are still delivering a continued request: the target acknowledges each piece with an empty response.
        if (_outgoing.Count > 0)
        {
            if (response.TextData.Length != 0 || response.Transit)
                throw new LoginFailure(LoginStatus.InitiatorError, "The target answered a continued (C=1) request before it was complete.");
            return NextChunk();
        }

        try { _incoming.Append(response.TextData.Span, response.Continue); }
        catch (TextFormatException e) { throw new LoginFailure(LoginStatus.InitiatorError, e.Message); }
        if (response.Continue)
            return Fetch(); // ask for the rest

        if (!TextKeyValueCodec.TryParse(_incoming.TakeText(), out var pairs, out var parseError))
            throw new LoginFailure(LoginStatus.InitiatorError, $"The target's login text is malformed: {parseError}");

        var reply = new List<TextKeyValue>();
        HandleText(pairs, reply);

        if (response.Transit)
        {
            LeaveStage(response.NextStage);
            if (IsComplete) return null;
        }
        return NextRequest(reply);
    }

    private void HandleText(List<TextKeyValue> pairs, List<TextKeyValue> reply)
    {
        foreach (var pair in pairs)
            if (!_ledger.NotePeerSent(pair.Key) && pair.Key != KeyNames.TargetAddress)
                throw new LoginFailure(LoginStatus.InitiatorError,
                    $"The target sent {pair.Key} a second time in this login; RFC 7143 §6.2 forbids negotiating a key twice.");
        var values = pairs.ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
        HandleSecurityKeys(values, reply);
        foreach (var pair in pairs)
            if (!KeyTable.IsSecurityKey(pair.Key))
                HandleOperationalKey(pair.Key, pair.Value, reply);
    }

    private void HandleSecurityKeys(Dictionary<string, string> values, List<TextKeyValue> reply)
    {
        foreach (var key in values.Keys)
            if (KeyTable.IsSecurityKey(key) && _stage != LoginStage.SecurityNegotiation)
                throw new LoginFailure(LoginStatus.InitiatorError, $"The target sent {key} outside the security negotiation stage.");

        if (values.TryGetValue(KeyNames.AuthMethod, out var method))
        {
            if (!_ledger.IsAwaitingAnswer(KeyNames.AuthMethod))
                throw new LoginFailure(LoginStatus.InitiatorError, "The target sent AuthMethod although it was not offered.");
            var offered = _ledger.OurOffer(KeyNames.AuthMethod);
            if (!KeyNegotiation.TryAcceptAnswer(KeyTable.Get(KeyNames.AuthMethod), offered, method, out var result, out var error))
                throw new LoginFailure(LoginStatus.AuthenticationFailed, error!);
            _ledger.Answered(KeyNames.AuthMethod, method, result);
            if (NegotiationValues.IsRefusal(method))
                throw new LoginFailure(LoginStatus.AuthenticationFailed, $"The target accepts none of the offered authentication methods ({offered}).");
            _authMethod = method;
            if (method == "CHAP")
                _chap = new ChapInitiatorExchange(_options.Chap!, _options.MutualChap, _options.ChapAlgorithms);
            else if (_options.MutualChap is not null)
                throw new LoginFailure(LoginStatus.AuthenticationFailed,
                    "Mutual CHAP was required, but the target chose AuthMethod=None and so never proved its identity.");
        }

        if (values.ContainsKey(KeyNames.ChapAlgorithm) || values.ContainsKey(KeyNames.ChapChallenge) && !(_chap?.ResponseSent ?? false))
        {
            var chap = _chap ?? throw new LoginFailure(LoginStatus.AuthenticationFailed, "The target sent a CHAP challenge without agreeing on AuthMethod=CHAP.");
            if (values.TryGetValue(KeyNames.ChapAlgorithm, out var algorithm) && _ledger.IsAwaitingAnswer(KeyNames.ChapAlgorithm))
                _ledger.Answered(KeyNames.ChapAlgorithm, algorithm, algorithm);
            if (chap.OnChallenge(values.GetValueOrDefault(KeyNames.ChapAlgorithm), values.GetValueOrDefault(KeyNames.ChapIdentifier),
                    values.GetValueOrDefault(KeyNames.ChapChallenge), reply) is { } error)
                throw new LoginFailure(LoginStatus.AuthenticationFailed, error);
            _ledger.DeclaredByUs(KeyNames.ChapName, _options.Chap!.UserName);
        }
        else if (values.ContainsKey(KeyNames.ChapName) || values.ContainsKey(KeyNames.ChapResponse))
        {
            var chap = _chap ?? throw new LoginFailure(LoginStatus.AuthenticationFailed, "The target sent CHAP_N/CHAP_R without agreeing on AuthMethod=CHAP.");
            if (chap.OnTargetResponse(values.GetValueOrDefault(KeyNames.ChapName), values.GetValueOrDefault(KeyNames.ChapResponse)) is { } error)
                throw new LoginFailure(LoginStatus.AuthenticationFailed, error);
            _ledger.DeclaredByPeer(KeyNames.ChapName, values[KeyNames.ChapName]);
            _logger.LogInformation("The target proved its identity with mutual CHAP.");
        }
    }

    private void HandleOperationalKey(string key, string value, List<TextKeyValue> reply)
    {
        if (_ledger.IsAwaitingAnswer(key))
        {
            var offered = _ledger.OurOffer(key);
            if (!KeyTable.TryGet(key, out var offeredDefinition))
            {
                _ledger.Answered(key, value, NegotiationValues.IsRefusal(value) ? null : value); // an extension key we sent
                return;
            }
            if (!KeyNegotiation.TryAcceptAnswer(offeredDefinition, offered, value, out var result, out var error))
                throw new LoginFailure(LoginStatus.InitiatorError, error!);
            _ledger.Answered(key, value, result);
            if (key == KeyNames.RdmaExtensions && _options.Iser && result != NegotiationValues.Yes)
                throw new LoginFailure(LoginStatus.InitiatorError,
                    $"The target answered RDMAExtensions={value}: it does not accept iSER on this connection.");
            return;
        }
        if (!KeyTable.TryGet(key, out var definition))
        {
            reply.Add(new TextKeyValue(key, NegotiationValues.NotUnderstood));
            _ledger.PeerOffered(key, value, NegotiationValues.NotUnderstood, null);
            return;
        }
        if (!definition.IsNegotiated)
        {
            if (!definition.Senders.HasFlag(KeySenders.Target))
                throw new LoginFailure(LoginStatus.InitiatorError, $"The target sent {key}, a key only an initiator may send.");
            if (definition.Validate(value) is { } invalid)
                throw new LoginFailure(LoginStatus.InitiatorError, invalid);
            _ledger.DeclaredByPeer(key, value);
            if (key == KeyNames.TargetAlias) _targetAlias = value;
            if (key == KeyNames.TargetPortalGroupTag && KeyDefinition.TryParseNumber(value, out long tag)) _portalGroupTag = (ushort)tag;
            return;
        }
        // The target's own offer: answer it with this initiator's value.
        KeyAnswer answer;
        if (definition.Obsolete)
            answer = new KeyAnswer(NegotiationValues.Reject, null);
        else if (_discovery && (definition.IrrelevantInDiscovery || definition.IserKey)
                 || definition.IserKey && !RdmaInEffect)
            answer = new KeyAnswer(NegotiationValues.Irrelevant, definition.Default);
        else
            answer = KeyNegotiation.Respond(definition, value, _options.ValueOf(key) ?? definition.Default ?? value);
        if (answer.Answer is not null) reply.Add(new TextKeyValue(key, answer.Answer));
        _ledger.PeerOffered(key, value, answer.Answer, answer.Result);
    }

    /// <summary>
    /// iSER is in use: negotiated on the leading connection; on one joining a session (RDMAExtensions is leading-only,
    /// RFC 7145 §6.3) it is the session's, which an iSER connection can only join.
    /// </summary>
    private bool RdmaInEffect => _options.Tsih != 0 ? _options.Iser : _ledger.Result(KeyNames.RdmaExtensions) == NegotiationValues.Yes;

    private void LeaveStage(LoginStage next)
    {
        if (_stage == LoginStage.SecurityNegotiation)
        {
            if (_chap is { Complete: false })
                throw new LoginFailure(LoginStatus.AuthenticationFailed,
                    _chap.ResponseSent ? "The target left the security stage without proving its identity (mutual CHAP)."
                                       : "The target left the security stage before CHAP was done.");
            if (_options.MutualChap is not null && _chap is null)
                throw new LoginFailure(LoginStatus.AuthenticationFailed, "Mutual CHAP was required, but the target did not authenticate.");
            if (_ledger.IsAwaitingAnswer(KeyNames.AuthMethod))
                _ledger.Answered(KeyNames.AuthMethod, null, NegotiationValues.None);
        }
        _stage = next;
        if (next != LoginStage.FullFeaturePhase)
            return;

        foreach (var key in _ledger.PendingOffers.ToList())
        {
            KeyTable.TryGet(key, out var definition);
            var implied = definition is null ? null : KeyNegotiation.ImpliedResult(definition, _ledger.OurOffer(key));
            if (implied is null)
                _logger.LogWarning("The target never answered {Key}={Value}; the RFC default applies.", key, _ledger.OurOffer(key));
            _ledger.Answered(key, null, implied);
        }
        if (_options.Iser && !_discovery && !RdmaInEffect)
            throw new LoginFailure(LoginStatus.InitiatorError, "The target did not agree to RDMAExtensions=Yes; iSER cannot be used on this connection.");
        _result = NegotiatedSession.Build(_ledger, weAreTarget: false, _options.InitiatorName, _options.TargetName, _discovery,
            _options.InitiatorAlias, _targetAlias, _portalGroupTag, _authMethod ?? NegotiationValues.None, _chap?.IsMutual ?? false,
            inheritedRdma: _options.Iser && _options.Tsih != 0);
        IsComplete = true;
        _logger.LogInformation("Login to {Target} complete.", _options.TargetName ?? "discovery");
    }

    private LoginRequestFrame NextRequest(List<TextKeyValue> reply)
    {
        if (_stage == LoginStage.SecurityNegotiation)
        {
            if (_chap is { } chap)
            {
                if (!_chapAlgorithmsSent)
                {
                    _chapAlgorithmsSent = true;
                    Offer(reply, KeyNames.ChapAlgorithm, chap.OfferedAlgorithms);
                    return Build(reply, transit: false, _stage);
                }
                if (!chap.Complete && !chap.ResponseSent)
                    return Build(reply, transit: false, _stage); // waiting for the challenge
            }
            return Build(reply, transit: true, LoginStage.LoginOperationalNegotiation);
        }

        if (!_operationalOffered)
        {
            _operationalOffered = true;
            if (_options.Iser && !_discovery && _options.Tsih == 0)
                OfferUnlessNegotiated(reply, KeyNames.RdmaExtensions, NegotiationValues.Yes);
            foreach (var key in _discovery ? DiscoverySessionOffers : NormalSessionOffers)
            {
                // A login into an existing session (TSIH set) negotiates no session-wide key (RFC 7143 §13: LO keys).
                if (_options.Tsih != 0 && KeyTable.TryGet(key, out var definition) && definition.Use == KeyUse.LeadingOnly) continue;
                if (!_ledger.IsNegotiated(key))
                    Offer(reply, key, _options.ValueOf(key)!);
            }
            if (_options.Iser && !_discovery)
            {
                OfferUnlessNegotiated(reply, KeyNames.InitiatorRecvDataSegmentLength, _options.ValueOf(KeyNames.InitiatorRecvDataSegmentLength)!);
                OfferUnlessNegotiated(reply, KeyNames.TargetRecvDataSegmentLength, _options.ValueOf(KeyNames.TargetRecvDataSegmentLength)!);
                if (_options.MaxOutstandingUnexpectedPdus is not null)
                    OfferUnlessNegotiated(reply, KeyNames.MaxOutstandingUnexpectedPdus, _options.ValueOf(KeyNames.MaxOutstandingUnexpectedPdus)!);
            }
            Declare(reply, KeyNames.MaxRecvDataSegmentLength, _options.ValueOf(KeyNames.MaxRecvDataSegmentLength)!);
            foreach (var extra in _options.ExtraKeys)
                if (!_ledger.WeHaveSent(extra.Key))
                    Offer(reply, extra.Key, extra.Value);
        }
        return Build(reply, transit: true, LoginStage.FullFeaturePhase);
    }

    private void Offer(List<TextKeyValue> pairs, string key, string value)
    {
        pairs.Add(new TextKeyValue(key, value));
        _ledger.Offered(key, value);
    }

    /// <summary>
    /// Offers a key the target has not already raised: had it offered the key first, this request already carries our
    /// answer, and a second pair for the same key would make the text malformed (RFC 7143 §6.1).
    /// </summary>
    private void OfferUnlessNegotiated(List<TextKeyValue> pairs, string key, string value)
    {
        if (!_ledger.IsNegotiated(key)) Offer(pairs, key, value);
    }

    private void Declare(List<TextKeyValue> pairs, string key, string value)
    {
        pairs.Add(new TextKeyValue(key, value));
        _ledger.DeclaredByUs(key, value);
    }

    /// <summary>Encodes the request text, splitting it with the C bit when it exceeds what the target accepts in one PDU.</summary>
    private LoginRequestFrame Build(List<TextKeyValue> pairs, bool transit, LoginStage next)
    {
        var chunks = TextSegmentAssembler.Split(TextKeyValueCodec.Encode(pairs), _options.LoginMaxSegmentLength);
        _pendingTransit = transit;
        _pendingNextStage = next;
        for (int i = 1; i < chunks.Count; i++) _outgoing.Enqueue(chunks[i]);
        return chunks.Count > 1 ? Frame(false, true, _stage, chunks[0]) : FinalFrame(chunks[0]);
    }

    private LoginRequestFrame NextChunk()
    {
        var chunk = _outgoing.Dequeue();
        return _outgoing.Count > 0 ? Frame(false, true, _stage, chunk) : FinalFrame(chunk);
    }

    private LoginRequestFrame FinalFrame(ReadOnlyMemory<byte> chunk) => Frame(_pendingTransit, false, _stage, chunk, _pendingNextStage);

    /// <summary>
    /// An empty request that asks for the next piece of a continued (C=1) response. It carries T=0 and leaves the
    /// transit request of the original request in force: the target's last piece may still carry T=1.
    /// </summary>
    private LoginRequestFrame Fetch() =>
        new(false, false, _stage, _stage, SupportedVersion, SupportedVersion,
            _options.Isid & 0xffff_ffff_ffffUL, _options.Tsih, _options.Cid, _options.CmdSN, ReadOnlyMemory<byte>.Empty);

    private LoginRequestFrame Frame(bool transit, bool cont, LoginStage current, ReadOnlyMemory<byte> text, LoginStage? next = null)
    {
        _lastTransit = transit;
        _lastNextStage = transit ? next!.Value : current;
        return new LoginRequestFrame(transit, cont, current, transit ? next!.Value : current, SupportedVersion, SupportedVersion,
            _options.Isid & 0xffff_ffff_ffffUL, _options.Tsih, _options.Cid, _options.CmdSN, text);
    }
}
