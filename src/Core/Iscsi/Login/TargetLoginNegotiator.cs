using Iser.Core.Iscsi.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Iser.Core.Iscsi.Login;

/// <summary>
/// The target's half of login (RFC 7143 §6, §11.12-11.13; RFC 7145 §6 for iSER), free of any transport:
/// one Login Request in, one Login Response out. Handles stage transitions, CHAP, operational negotiation, the C bit in
/// both directions, and every failure with the RFC status and a sentence (<see cref="FailureReason"/>).
/// The caller fills ISID/TSIH/ITT/StatSN into the PDUs and closes the connection once <see cref="Failed"/>.
/// </summary>
public sealed class TargetLoginNegotiator
{
    /// <summary>The only iSCSI version there is (RFC 7143 §11.12.4).</summary>
    public const byte SupportedVersion = 0x00;

    private static readonly string[] TargetOfferCandidates =
    {
        KeyNames.HeaderDigest, KeyNames.DataDigest, KeyNames.MaxConnections, KeyNames.InitialR2T, KeyNames.ImmediateData,
        KeyNames.MaxBurstLength, KeyNames.FirstBurstLength, KeyNames.DefaultTime2Wait, KeyNames.DefaultTime2Retain,
        KeyNames.MaxOutstandingR2T, KeyNames.DataPduInOrder, KeyNames.DataSequenceInOrder, KeyNames.ErrorRecoveryLevel,
        KeyNames.TargetRecvDataSegmentLength, KeyNames.InitiatorRecvDataSegmentLength, KeyNames.MaxOutstandingUnexpectedPdus,
    };

    private readonly TargetLoginPolicy _policy;
    private readonly ILogger _logger;
    private readonly LoginKeyLedger _ledger = new();
    private readonly TextSegmentAssembler _incoming = new();
    private readonly Queue<ReadOnlyMemory<byte>> _outgoing = new();

    private LoginStage? _stage;
    private bool _identified;
    private TargetLookupResult? _lookup;
    private string _authMethod = NegotiationValues.None;
    private bool _authMethodAgreed;
    private ChapTargetExchange? _chap;
    private bool _declaredOperational;
    private bool _offersMade;
    private int _exchanges;
    // Transit carried by the last chunk of a continued response.
    private bool _pendingTransit;
    private LoginStage _pendingNextStage;
    private NegotiatedSession? _result;

    public TargetLoginNegotiator(TargetLoginPolicy policy, ILogger? logger = null)
    {
        _policy = policy ?? throw new ArgumentNullException(nameof(policy));
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>True once a response with T=1, NSG=FullFeaturePhase and success was produced.</summary>
    public bool IsComplete { get; private set; }
    /// <summary>True once a response with a non-success status was produced; the caller closes the connection.</summary>
    public bool Failed { get; private set; }
    public LoginStatus? FailureStatus { get; private set; }
    /// <summary>Why the login failed, as a sentence.</summary>
    public string? FailureReason { get; private set; }

    /// <summary>The stage the login is in (null before the first request).</summary>
    public LoginStage? CurrentStage => _stage;

    /// <summary>Known after the first request; for the caller's TSIH and session-matching rules.</summary>
    public string? InitiatorName { get; private set; }
    public string? TargetName { get; private set; }
    public bool IsDiscovery { get; private set; }
    public string? InitiatorAlias { get; private set; }
    /// <summary>
    /// False when the first request carried a non-zero TSIH: the connection joins an existing session, so leading-only
    /// keys are answered Irrelevant and the session's values (which the caller holds) stay in force.
    /// </summary>
    public bool IsLeadingConnection { get; private set; } = true;
    /// <summary>ISID and TSIH of the first request, for the caller's session matching (RFC 7143 §4.3.4).</summary>
    public ulong Isid { get; private set; }
    public ushort Tsih { get; private set; }
    /// <summary>What the policy said about this initiator and target.</summary>
    public TargetLookupResult? Lookup => _lookup;

    /// <summary>Keys so far (also valid after a failure, for logs).</summary>
    public IReadOnlyList<NegotiatedKey> Keys => _ledger.Entries;

    public NegotiatedSession Result => _result ?? throw new InvalidOperationException("The login is not complete.");

    /// <summary>Test hook: fixed CHAP challenge and identifier instead of random ones.</summary>
    internal byte[]? ChapChallengeOverride { get; set; }
    internal byte? ChapIdentifierOverride { get; set; }

    public LoginResponseFrame Process(in LoginRequestFrame request)
    {
        if (IsComplete || Failed)
            throw new InvalidOperationException("The login is already over; no further requests can be processed.");
        try
        {
            return ProcessCore(request);
        }
        catch (LoginFailure failure)
        {
            return Fail(request, failure.Status, failure.Message);
        }
    }

    private LoginResponseFrame ProcessCore(in LoginRequestFrame request)
    {
        if (++_exchanges > _policy.MaxExchanges)
            throw new LoginFailure(LoginStatus.InitiatorError, $"The login did not finish within {_policy.MaxExchanges} request/response exchanges.");

        if (_stage is null && (request.VersionMin > SupportedVersion || request.VersionMax < SupportedVersion))
            throw new LoginFailure(LoginStatus.UnsupportedVersion,
                $"The initiator supports iSCSI versions 0x{request.VersionMin:x2} to 0x{request.VersionMax:x2}; this target supports only 0x00.");
        ValidateStages(request);
        if (_stage is null)
        {
            _stage = request.CurrentStage;
            Isid = request.Isid & 0xffff_ffff_ffffUL;
            Tsih = request.Tsih;
            IsLeadingConnection = request.Tsih == 0;
        }

        // A continued response of ours is being drained: the initiator must send empty requests.
        if (_outgoing.Count > 0)
        {
            if (request.TextData.Length != 0 || request.Continue)
                throw new LoginFailure(LoginStatus.InitiatorError,
                    "The initiator sent text while the target's continued (C=1) response was still being delivered.");
            return NextChunk();
        }

        try { _incoming.Append(request.TextData.Span, request.Continue); }
        catch (TextFormatException e) { throw new LoginFailure(LoginStatus.InitiatorError, e.Message); }
        if (request.Continue)
            return Response(transit: false, cont: false, _stage.Value, ReadOnlyMemory<byte>.Empty); // acknowledge, wait for the rest

        if (!TextKeyValueCodec.TryParse(_incoming.TakeText(), out var pairs, out var parseError))
            throw new LoginFailure(LoginStatus.InitiatorError, parseError!);

        var reply = new List<TextKeyValue>();
        var (transit, nextStage) = HandleText(request, pairs, reply);

        var text = TextKeyValueCodec.Encode(reply);
        var chunks = TextSegmentAssembler.Split(text, _policy.LoginMaxSegmentLength);
        _pendingTransit = transit;
        _pendingNextStage = nextStage;
        for (int i = 1; i < chunks.Count; i++)
            _outgoing.Enqueue(chunks[i]);
        if (chunks.Count > 1)
            return Response(transit: false, cont: true, _stage.Value, chunks[0]);
        return Finish(chunks[0]);
    }

    private LoginResponseFrame NextChunk()
    {
        var chunk = _outgoing.Dequeue();
        return _outgoing.Count > 0 ? Response(false, true, _stage!.Value, chunk) : Finish(chunk);
    }

    /// <summary>Sends the last (or only) chunk of a response, applying the stage transition it carries.</summary>
    private LoginResponseFrame Finish(ReadOnlyMemory<byte> chunk)
    {
        var current = _stage!.Value;
        if (!_pendingTransit)
            return Response(false, false, current, chunk);

        var frame = new LoginResponseFrame(true, false, current, _pendingNextStage, LoginStatus.Success, SupportedVersion, SupportedVersion, chunk);
        _stage = _pendingNextStage;
        if (_pendingNextStage == LoginStage.FullFeaturePhase)
        {
            _result = NegotiatedSession.Build(_ledger, weAreTarget: true, InitiatorName!, TargetName, IsDiscovery, InitiatorAlias,
                _lookup?.TargetAlias, IsDiscovery ? null : _policy.TargetPortalGroupTag, _authMethod, _chap?.MutualPerformed ?? false,
                inheritedRdma: !IsLeadingConnection && _policy.IsIserConnection);
            IsComplete = true;
            _logger.LogInformation("Login of {Initiator} to {Target} complete ({Auth}, {Kind} session).",
                InitiatorName, TargetName ?? "discovery",
                _chap is { } chap ? $"CHAP {ChapAlgorithms.Name(chap.Algorithm)}{(chap.MutualPerformed ? ", mutual" : "")}" : _authMethod,
                IsDiscovery ? "discovery" : "normal");
        }
        return frame;
    }

    private void ValidateStages(in LoginRequestFrame request)
    {
        if (request.CurrentStage is not (LoginStage.SecurityNegotiation or LoginStage.LoginOperationalNegotiation))
            throw new LoginFailure(LoginStatus.InitiatorError,
                $"The login request's current stage (CSG={(byte)request.CurrentStage}) is not a login stage.");
        if (_stage is { } stage && request.CurrentStage != stage)
            throw new LoginFailure(LoginStatus.InitiatorError,
                $"The login request is for stage {request.CurrentStage} but the login is in stage {stage}.");
        if (request.Transit && request.Continue)
            throw new LoginFailure(LoginStatus.InitiatorError, "The login request has both the T and the C bit set, which RFC 7143 forbids.");
        if (request.Transit && (request.NextStage <= request.CurrentStage || request.NextStage is not (LoginStage.LoginOperationalNegotiation or LoginStage.FullFeaturePhase)))
            throw new LoginFailure(LoginStatus.InitiatorError,
                $"The login request asks to move from stage {request.CurrentStage} to NSG={(byte)request.NextStage}, which is not a later valid stage.");
    }

    private (bool Transit, LoginStage Next) HandleText(in LoginRequestFrame request, List<TextKeyValue> pairs, List<TextKeyValue> reply)
    {
        foreach (var pair in pairs)
            if (!_ledger.NotePeerSent(pair.Key))
                throw new LoginFailure(LoginStatus.InitiatorError,
                    $"The initiator sent {pair.Key} a second time in this login; RFC 7143 §6.2 forbids negotiating a key twice.");

        var values = pairs.ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
        bool firstRequest = !_identified;
        if (firstRequest)
            Identify(request, values, reply);

        var stage = _stage!.Value;
        HandleSecurityKeys(stage, values, reply);

        var operational = pairs.Where(p => !KeyTable.IsSecurityKey(p.Key) && !(firstRequest && KeyTable.IsIdentityKey(p.Key))).ToList();
        if (operational.Count > 0)
        {
            if (!IsAuthenticated)
                throw new LoginFailure(LoginStatus.InitiatorError,
                    $"The initiator sent operational keys ({string.Join(", ", operational.Select(p => p.Key))}) before authentication completed.");
            foreach (var pair in operational.OrderBy(p => ProcessingOrder(p.Key)))
                HandleOperationalKey(pair.Key, pair.Value, reply);
        }
        SettleUnansweredOffers(values);

        // Declare our receive limit where operational negotiation happens.
        if (!_declaredOperational && IsAuthenticated && (stage == LoginStage.LoginOperationalNegotiation ||
                                                          request is { Transit: true, NextStage: LoginStage.FullFeaturePhase }))
        {
            DeclareOperational(reply);
        }

        if (!request.Transit)
            return (false, stage);
        return DecideTransit(request, stage, reply);
    }

    private void Identify(in LoginRequestFrame request, Dictionary<string, string> values, List<TextKeyValue> reply)
    {
        if (!values.TryGetValue(KeyNames.InitiatorName, out var initiatorName) || initiatorName.Length == 0)
            throw new LoginFailure(LoginStatus.MissingParameter, "The first login request does not carry InitiatorName.");
        if (KeyTable.Get(KeyNames.InitiatorName).Validate(initiatorName) is { } badName)
            throw new LoginFailure(LoginStatus.InitiatorError, badName);
        string sessionType = values.GetValueOrDefault(KeyNames.SessionType, "Normal");
        if (sessionType is not ("Normal" or "Discovery"))
            throw new LoginFailure(LoginStatus.SessionTypeNotSupported, $"SessionType={sessionType} is not a session type this target supports.");
        bool discovery = sessionType == "Discovery";
        values.TryGetValue(KeyNames.TargetName, out var targetName);
        if (!discovery && string.IsNullOrEmpty(targetName))
            throw new LoginFailure(LoginStatus.MissingParameter, "The first login request of a normal session does not carry TargetName.");
        if (targetName is not null && KeyTable.Get(KeyNames.TargetName).Validate(targetName) is { } badTarget)
            throw new LoginFailure(LoginStatus.InitiatorError, badTarget);

        InitiatorName = initiatorName;
        TargetName = targetName;
        IsDiscovery = discovery;
        InitiatorAlias = values.GetValueOrDefault(KeyNames.InitiatorAlias);
        _ledger.DeclaredByPeer(KeyNames.InitiatorName, initiatorName);
        _ledger.DeclaredByPeer(KeyNames.SessionType, sessionType);
        if (targetName is not null) _ledger.DeclaredByPeer(KeyNames.TargetName, targetName);
        if (InitiatorAlias is not null) _ledger.DeclaredByPeer(KeyNames.InitiatorAlias, InitiatorAlias);

        var lookup = _policy.LookupTarget(new TargetLookupRequest(initiatorName, targetName, discovery));
        _lookup = lookup;
        switch (lookup.Outcome)
        {
            case TargetLookupOutcome.NotFound:
                throw new LoginFailure(LoginStatus.TargetNotFound, $"There is no target named {targetName} here.");
            case TargetLookupOutcome.NotAuthorized:
                throw new LoginFailure(LoginStatus.AuthorizationFailure,
                    $"Initiator {initiatorName} is not allowed to access {(discovery ? "discovery" : targetName)}.");
            case TargetLookupOutcome.Removed:
                throw new LoginFailure(LoginStatus.TargetRemoved, $"Target {targetName} has been removed.");
            case TargetLookupOutcome.Unavailable:
                throw new LoginFailure(LoginStatus.ServiceUnavailable, $"Target {targetName} cannot accept a session now.");
        }
        if (lookup.InitiatorCredentials is { } creds && ChapAuthenticator.IsWeakSecret(creds.Secret))
            _logger.LogWarning("The CHAP secret for {User} is shorter than the 12 bytes RFC 7143 asks for.", creds.UserName);
        if (request.CurrentStage == LoginStage.LoginOperationalNegotiation && lookup.InitiatorCredentials is not null)
            throw new LoginFailure(LoginStatus.AuthenticationFailed,
                "This target requires CHAP authentication, but the initiator skipped the security negotiation stage.");

        _identified = true;
        if (!discovery)
        {
            // RFC 7143 §13.9: the first Login Response of a normal session carries TargetPortalGroupTag.
            Declare(reply, KeyNames.TargetPortalGroupTag, OperationalLimits.Num(_policy.TargetPortalGroupTag));
            if (lookup.TargetAlias is { } alias)
                Declare(reply, KeyNames.TargetAlias, alias);
        }
        _logger.LogDebug("Login from {Initiator} for {Target} ({Kind}).", initiatorName, targetName ?? "-", sessionType);
    }

    private bool RequiresChap => _lookup?.InitiatorCredentials is not null;

    private bool IsAuthenticated =>
        _chap is { } chap ? chap.Authenticated : _authMethodAgreed || !RequiresChap;

    private void HandleSecurityKeys(LoginStage stage, Dictionary<string, string> values, List<TextKeyValue> reply)
    {
        foreach (var key in values.Keys)
            if (KeyTable.IsSecurityKey(key) && stage != LoginStage.SecurityNegotiation)
                throw new LoginFailure(LoginStatus.InitiatorError, $"{key} may only be sent in the security negotiation stage.");

        if (values.TryGetValue(KeyNames.AuthMethod, out var offered))
        {
            var definition = KeyTable.Get(KeyNames.AuthMethod);
            string supported = RequiresChap ? "CHAP" : NegotiationValues.None;
            var answer = KeyNegotiation.Respond(definition, offered, supported);
            _ledger.PeerOffered(KeyNames.AuthMethod, offered, answer.Answer, answer.Result);
            if (answer.Answer == NegotiationValues.Reject)
                throw new LoginFailure(LoginStatus.AuthenticationFailed, RequiresChap
                    ? $"This target requires CHAP authentication; the initiator offered only AuthMethod={offered}."
                    : $"The initiator offered only AuthMethod={offered}; no CHAP secret is configured for it here, so only None is possible.");
            reply.Add(new TextKeyValue(KeyNames.AuthMethod, answer.Answer!));
            _authMethod = answer.Answer!;
            _authMethodAgreed = true;
            if (_authMethod == "CHAP")
                _chap = new ChapTargetExchange(_lookup!.InitiatorCredentials!, _lookup.TargetCredentials, _lookup.ChapAlgorithms);
        }

        if (values.TryGetValue(KeyNames.ChapAlgorithm, out var algorithms))
        {
            var chap = _chap ?? throw new LoginFailure(LoginStatus.AuthenticationFailed, "The initiator sent CHAP_A without agreeing on AuthMethod=CHAP.");
            if (chap.OnAlgorithms(algorithms, reply, ChapChallengeOverride, ChapIdentifierOverride) is { } error)
                throw new LoginFailure(LoginStatus.AuthenticationFailed, error);
            string chosen = ChapAlgorithms.Wire(chap.Algorithm);
            _ledger.PeerOffered(KeyNames.ChapAlgorithm, algorithms, chosen, chosen);
        }

        bool hasResponse = values.ContainsKey(KeyNames.ChapName) || values.ContainsKey(KeyNames.ChapResponse);
        bool hasMutual = values.ContainsKey(KeyNames.ChapIdentifier) || values.ContainsKey(KeyNames.ChapChallenge);
        if (hasResponse || hasMutual)
        {
            var chap = _chap ?? throw new LoginFailure(LoginStatus.AuthenticationFailed, "The initiator sent CHAP values without agreeing on AuthMethod=CHAP.");
            if (!hasResponse)
                throw new LoginFailure(LoginStatus.AuthenticationFailed, "The initiator sent CHAP_I/CHAP_C without its CHAP_N/CHAP_R.");
            int before = reply.Count;
            if (chap.OnResponse(values.GetValueOrDefault(KeyNames.ChapName), values.GetValueOrDefault(KeyNames.ChapResponse),
                    values.GetValueOrDefault(KeyNames.ChapIdentifier), values.GetValueOrDefault(KeyNames.ChapChallenge), reply) is { } error)
            {
                _logger.LogWarning("CHAP authentication of {Initiator} failed: {Reason}", InitiatorName, error);
                throw new LoginFailure(LoginStatus.AuthenticationFailed, error);
            }
            _ledger.DeclaredByPeer(KeyNames.ChapName, values[KeyNames.ChapName]);
            if (reply.Count > before)
                _ledger.DeclaredByUs(KeyNames.ChapName, reply[before].Value);
            _logger.LogInformation("CHAP authentication of {Initiator} succeeded{Mutual}.", InitiatorName, chap.MutualPerformed ? " (mutual)" : "");
        }
    }

    private static int ProcessingOrder(string key) => key switch
    {
        // Later keys depend on earlier results: iSER keys on RDMAExtensions, FirstBurstLength on InitialR2T/ImmediateData/MaxBurstLength.
        KeyNames.RdmaExtensions => 0,
        KeyNames.InitialR2T or KeyNames.ImmediateData or KeyNames.MaxBurstLength => 1,
        KeyNames.FirstBurstLength => 3,
        KeyNames.TargetRecvDataSegmentLength or KeyNames.InitiatorRecvDataSegmentLength or KeyNames.MaxOutstandingUnexpectedPdus => 3,
        _ => 2,
    };

    /// <summary>The target's own value for a negotiated key, with RFC 7145's iSER overrides.</summary>
    private string? LocalValue(string key)
    {
        var limits = _policy.Limits;
        if (_policy.IsIserConnection)
        {
            switch (key)
            {
                case KeyNames.RdmaExtensions: return NegotiationValues.Yes;
                case KeyNames.InitialR2T: return NegotiationValues.Yes;
                case KeyNames.ImmediateData: return NegotiationValues.No;
                case KeyNames.HeaderDigest:
                case KeyNames.DataDigest: return NegotiationValues.None;
            }
        }
        else if (key == KeyNames.RdmaExtensions)
            return NegotiationValues.No;

        if (key == KeyNames.FirstBurstLength)
        {
            // FirstBurstLength may not exceed MaxBurstLength (RFC 7143 §13.14).
            KeyDefinition.TryParseNumber(_ledger.Result(KeyNames.MaxBurstLength)!, out long maxBurst);
            return OperationalLimits.Num(Math.Min(limits.FirstBurstLength, maxBurst));
        }
        return limits.ValueOf(key);
    }

    /// <summary>
    /// iSER is in use: negotiated on a leading connection; on one joining a session (RDMAExtensions is leading-only,
    /// RFC 7145 §6.3) it is the session's, which only an iSER connection may join (checked when the session is bound).
    /// </summary>
    private bool RdmaInEffect => IsLeadingConnection
        ? _ledger.Result(KeyNames.RdmaExtensions) == NegotiationValues.Yes
        : _policy.IsIserConnection;

    private bool IsIrrelevant(KeyDefinition definition)
    {
        if (!IsLeadingConnection && definition.Use == KeyUse.LeadingOnly)
            return true;
        if (IsDiscovery && (definition.IrrelevantInDiscovery || definition.IserKey))
            return true;
        if (definition.IserKey && !RdmaInEffect)
            return true;
        return definition.Name == KeyNames.FirstBurstLength
               && _ledger.Result(KeyNames.InitialR2T) == NegotiationValues.Yes
               && _ledger.Result(KeyNames.ImmediateData) == NegotiationValues.No;
    }

    private void HandleOperationalKey(string key, string value, List<TextKeyValue> reply)
    {
        if (_ledger.IsAwaitingAnswer(key))
        {
            AcceptAnswer(key, value);
            return;
        }
        if (!KeyTable.TryGet(key, out var definition))
        {
            _logger.LogDebug("Key {Key} is not understood.", key);
            Answer(reply, key, value, new KeyAnswer(NegotiationValues.NotUnderstood, null));
            return;
        }
        if (definition.Obsolete || !definition.Senders.HasFlag(KeySenders.Initiator) || definition.Use == KeyUse.FullFeatureOnly
            || KeyTable.IsIdentityKey(key) && key != KeyNames.InitiatorAlias)
        {
            // A target-only key (TargetAlias, TargetPortalGroupTag) that this same response declares: the declaration
            // stands, since a second pair for the key would make the response malformed (RFC 7143 §6.1).
            if (!reply.Exists(p => p.Key == key))
                Answer(reply, key, value, new KeyAnswer(NegotiationValues.Reject, definition.Default));
            return;
        }
        if (!definition.IsNegotiated)
        {
            if (definition.Validate(value) is { } invalid)
                throw new LoginFailure(LoginStatus.InitiatorError, invalid);
            _ledger.DeclaredByPeer(key, value);
            if (key == KeyNames.InitiatorAlias) InitiatorAlias = value;
            return;
        }
        if (IsIrrelevant(definition))
        {
            Answer(reply, key, value, new KeyAnswer(NegotiationValues.Irrelevant, definition.Default));
            return;
        }
        var local = LocalValue(key) ?? definition.Default!;
        var answer = KeyNegotiation.Respond(definition, value, local);
        if (answer.Reason is not null)
            _logger.LogDebug("{Key}={Value} answered {Answer}: {Reason}", key, value, answer.Answer, answer.Reason);
        Answer(reply, key, value, answer);

        if (key == KeyNames.RdmaExtensions && _policy.IsIserConnection && answer.Result != NegotiationValues.Yes && !IsDiscovery)
            throw new LoginFailure(LoginStatus.InitiatorError,
                $"This portal accepts only iSER logins, and the initiator offered RDMAExtensions={value}.");
    }

    private void Answer(List<TextKeyValue> reply, string key, string offered, KeyAnswer answer)
    {
        if (answer.Answer is not null)
            reply.Add(new TextKeyValue(key, answer.Answer));
        _ledger.PeerOffered(key, offered, answer.Answer, answer.Result);
    }

    private void AcceptAnswer(string key, string value)
    {
        var definition = KeyTable.Get(key);
        if (!KeyNegotiation.TryAcceptAnswer(definition, _ledger.OurOffer(key), value, out var result, out var error))
            throw new LoginFailure(LoginStatus.InitiatorError, error!);
        if (NegotiationValues.IsRefusal(value) && ImpliedOrRequired(definition, _ledger.OurOffer(key)))
            throw new LoginFailure(LoginStatus.InitiatorError,
                $"The initiator answered {key}={value} to the target's offer of {_ledger.OurOffer(key)}, which the target requires.");
        _ledger.Answered(key, value, result);
    }

    /// <summary>Offers of the target that the initiator must accept: refusing them leaves a value the target cannot honour.</summary>
    private static bool ImpliedOrRequired(KeyDefinition definition, string offered) => definition.IsNegotiated && offered != definition.Default;

    private void SettleUnansweredOffers(Dictionary<string, string> values)
    {
        if (!_offersMade) return;
        foreach (var key in _ledger.PendingOffers.ToList())
        {
            if (values.ContainsKey(key)) continue;
            var definition = KeyTable.Get(key);
            var offered = _ledger.OurOffer(key);
            if (KeyNegotiation.ImpliedResult(definition, offered) is { } implied)
                _ledger.Answered(key, null, implied);
            else
                throw new LoginFailure(LoginStatus.InitiatorError, $"The initiator did not answer the target's offer {key}={offered}.");
        }
    }

    private void DeclareOperational(List<TextKeyValue> reply)
    {
        _declaredOperational = true;
        Declare(reply, KeyNames.MaxRecvDataSegmentLength, OperationalLimits.Num(_policy.Limits.MaxRecvDataSegmentLength));
    }

    private void Declare(List<TextKeyValue> reply, string key, string value)
    {
        reply.Add(new TextKeyValue(key, value));
        _ledger.DeclaredByUs(key, value);
    }

    /// <summary>Keys the initiator left at defaults that this target cannot accept: the target offers its value (RFC 7143 §6.2).</summary>
    private List<TextKeyValue> NeededOffers()
    {
        var offers = new List<TextKeyValue>();
        foreach (var key in TargetOfferCandidates)
        {
            var definition = KeyTable.Get(key);
            if (_ledger.IsNegotiated(key) || IsIrrelevant(definition))
                continue;
            var local = LocalValue(key);
            if (local is null) continue;
            var atDefault = KeyNegotiation.Respond(definition, definition.Default!, local);
            bool refused = answerIsRefusal(atDefault);
            if (!refused && atDefault.Result == definition.Default)
                continue;
            offers.Add(new TextKeyValue(key, refused || definition.Rule == NegotiationRule.ListSelection ? local : atDefault.Result!));
        }
        return offers;

        static bool answerIsRefusal(KeyAnswer a) => a.Answer is not null && NegotiationValues.IsRefusal(a.Answer);
    }

    private (bool, LoginStage) DecideTransit(in LoginRequestFrame request, LoginStage stage, List<TextKeyValue> reply)
    {
        if (stage == LoginStage.SecurityNegotiation && !IsAuthenticated)
        {
            if (_chap is not null)
                return (false, stage); // CHAP still in progress: stay in the security stage
            throw new LoginFailure(LoginStatus.AuthenticationFailed,
                "This target requires CHAP authentication; the initiator tried to leave the security stage without it.");
        }
        if (_ledger.PendingOffers.Any())
            return (false, stage);

        var next = request.NextStage;
        if (next == LoginStage.FullFeaturePhase)
        {
            var offers = NeededOffers();
            if (offers.Count > 0)
            {
                if (stage == LoginStage.SecurityNegotiation)
                    return (true, LoginStage.LoginOperationalNegotiation); // make the offers in the operational stage
                foreach (var offer in offers)
                {
                    reply.Add(offer);
                    _ledger.Offered(offer.Key, offer.Value);
                }
                _offersMade = true;
                return (false, stage);
            }
            if (_policy.IsIserConnection && !IsDiscovery && !RdmaInEffect)
                throw new LoginFailure(LoginStatus.InitiatorError,
                    "This portal accepts only iSER logins, and the initiator did not negotiate RDMAExtensions=Yes.");
        }
        return (true, next);
    }

    private LoginResponseFrame Response(bool transit, bool cont, LoginStage current, ReadOnlyMemory<byte> text) =>
        new(transit, cont, current, transit ? _pendingNextStage : current, LoginStatus.Success, SupportedVersion, SupportedVersion, text);

    private LoginResponseFrame Fail(in LoginRequestFrame request, LoginStatus status, string reason)
    {
        Failed = true;
        FailureStatus = status;
        FailureReason = reason;
        _logger.LogWarning("Login from {Initiator} refused: {Status}. {Reason}", InitiatorName ?? "(unknown initiator)", status.Describe(), reason);
        var stage = request.CurrentStage is LoginStage.SecurityNegotiation or LoginStage.LoginOperationalNegotiation
            ? request.CurrentStage : LoginStage.SecurityNegotiation;
        return new LoginResponseFrame(false, false, stage, stage, status, SupportedVersion, SupportedVersion, ReadOnlyMemory<byte>.Empty);
    }
}
