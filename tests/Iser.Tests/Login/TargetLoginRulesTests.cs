using Iser.Core.Iscsi.Login;
using Iser.Core.Iscsi.Text;
using static Iser.Tests.Login.LoginHarness;

namespace Iser.Tests.Login;

/// <summary>The target driven by hand-made requests: RFC 7143 login rules and the status each violation gets.</summary>
public class TargetLoginRulesTests
{
    private const LoginStage Sec = LoginStage.SecurityNegotiation;
    private const LoginStage Op = LoginStage.LoginOperationalNegotiation;
    private const LoginStage Ffp = LoginStage.FullFeaturePhase;
    private static readonly string Iname = $"InitiatorName={InitiatorIqn}";
    private static readonly string Tname = $"TargetName={TargetIqn}";

    private static TargetLoginNegotiator NewTarget(TargetLoginPolicy? policy = null) => new(policy ?? Policy());

    [Fact]
    public void Missing_InitiatorName_is_0x0207()
    {
        var target = NewTarget();
        var response = target.Process(Request(Sec, true, Op, Tname, "AuthMethod=None"));
        Assert.Equal(LoginStatus.MissingParameter, response.Status);
        Assert.Contains("InitiatorName", target.FailureReason);
        Assert.True(target.Failed);
        Assert.Throws<InvalidOperationException>(() => target.Process(Request(Sec, true, Op, Iname)));
    }

    [Fact]
    public void Missing_TargetName_in_a_normal_session_is_0x0207()
    {
        var target = NewTarget();
        Assert.Equal(LoginStatus.MissingParameter, target.Process(Request(Sec, true, Op, Iname, "AuthMethod=None")).Status);
        Assert.Contains("TargetName", target.FailureReason);
    }

    [Fact]
    public void Discovery_session_needs_no_TargetName()
    {
        var target = NewTarget();
        var response = target.Process(Request(Sec, true, Op, Iname, "SessionType=Discovery", "AuthMethod=None"));
        Assert.True(response.Status.IsSuccess);
        Assert.True(target.IsDiscovery);
    }

    [Fact]
    public void Unknown_target_is_0x0203()
    {
        var target = NewTarget();
        var response = target.Process(Request(Sec, true, Op, Iname, "TargetName=iqn.2026-11.org.example:nothere", "AuthMethod=None"));
        Assert.Equal(LoginStatus.TargetNotFound, response.Status);
        Assert.Equal("Initiator error: target not found (0x0203)", response.Status.Describe());
        Assert.Contains("nothere", target.FailureReason);
    }

    [Theory]
    [InlineData(TargetLookupOutcome.NotAuthorized, 0x02, 0x02)]
    [InlineData(TargetLookupOutcome.Removed, 0x02, 0x04)]
    [InlineData(TargetLookupOutcome.Unavailable, 0x03, 0x01)]
    public void Policy_refusals_map_to_their_status(TargetLookupOutcome outcome, byte statusClass, byte detail)
    {
        TargetLookupRequest? seen = null;
        var target = NewTarget(new TargetLoginPolicy
        {
            Limits = new OperationalLimits(),
            LookupTarget = r => { seen = r; return new TargetLookupResult { Outcome = outcome }; },
        });
        var response = target.Process(Request(Sec, true, Op, Iname, Tname, "AuthMethod=None"));
        Assert.Equal(new LoginStatus(statusClass, detail), response.Status);
        Assert.Equal(new TargetLookupRequest(InitiatorIqn, TargetIqn, false), seen);
    }

    [Fact]
    public void Unsupported_version_is_0x0205()
    {
        var target = NewTarget();
        var request = Request(Sec, true, Op, Iname, Tname) with { VersionMax = 2, VersionMin = 1 };
        Assert.Equal(LoginStatus.UnsupportedVersion, target.Process(request).Status);
        Assert.Contains("0x01 to 0x02", target.FailureReason);
    }

    [Fact]
    public void Unknown_session_type_is_0x0209()
    {
        var target = NewTarget();
        Assert.Equal(LoginStatus.SessionTypeNotSupported, target.Process(Request(Sec, true, Op, Iname, Tname, "SessionType=Bogus")).Status);
    }

    [Fact]
    public void Responses_carry_version_zero()
    {
        var response = NewTarget().Process(Request(Sec, true, Op, Iname, Tname, "AuthMethod=None"));
        Assert.Equal(0, response.VersionMax);
        Assert.Equal(0, response.VersionActive);
    }

    [Fact]
    public void Going_straight_from_security_to_full_feature_phase_is_allowed()
    {
        var target = NewTarget();
        var response = target.Process(Request(Sec, true, Ffp, Iname, Tname, "AuthMethod=None", "MaxBurstLength=65536", "MaxRecvDataSegmentLength=32768"));
        Assert.True(response.Transit);
        Assert.Equal(Ffp, response.NextStage);
        Assert.True(target.IsComplete);
        var keys = Keys(response.TextData);
        Assert.Equal("65536", keys["MaxBurstLength"]);
        Assert.Equal("8192", keys["MaxRecvDataSegmentLength"]);
        Assert.Equal(65536, target.Result.Connection.MaxBurstLength);
        Assert.Equal(32768, target.Result.Connection.MaxXmitDataSegmentLength);
        Assert.Equal(65536, target.Result.Connection.FirstBurstLength); // not negotiated: the RFC default
    }

    [Fact]
    public void Target_does_not_transit_unless_asked()
    {
        var target = NewTarget();
        var first = target.Process(Request(Sec, false, Sec, Iname, Tname, "AuthMethod=None"));
        Assert.False(first.Transit);
        Assert.Equal(Sec, first.CurrentStage);
        var second = target.Process(Request(Sec, true, Op));
        Assert.True(second.Transit);
        Assert.Equal(Op, second.NextStage);
        var third = target.Process(Request(Op, false, Op, "MaxConnections=4"));
        Assert.False(third.Transit);
        Assert.Equal("1", Keys(third.TextData)["MaxConnections"]);
        var last = target.Process(Request(Op, true, Ffp));
        Assert.True(last.Transit);
        Assert.True(target.IsComplete);
    }

    [Fact]
    public void Operational_keys_before_authentication_are_a_protocol_error()
    {
        var target = NewTarget(Policy(initiatorChap: new ChapCredentials("alice", "alice-secret-123")));
        var response = target.Process(Request(Sec, true, Op, Iname, Tname, "AuthMethod=CHAP", "MaxBurstLength=65536"));
        Assert.Equal(LoginStatus.InitiatorError, response.Status);
        Assert.Contains("before authentication completed", target.FailureReason);
    }

    [Fact]
    public void Operational_keys_in_the_security_stage_after_AuthMethod_None_are_processed()
    {
        var target = NewTarget();
        var response = target.Process(Request(Sec, true, Op, Iname, Tname, "AuthMethod=None", "ImmediateData=No"));
        Assert.True(response.Status.IsSuccess);
        Assert.Equal("No", Keys(response.TextData)["ImmediateData"]);
    }

    [Fact]
    public void Skipping_the_security_stage_when_chap_is_required_is_0x0201()
    {
        var target = NewTarget(Policy(initiatorChap: new ChapCredentials("alice", "alice-secret-123")));
        Assert.Equal(LoginStatus.AuthenticationFailed, target.Process(Request(Op, true, Ffp, Iname, Tname)).Status);
        Assert.Contains("skipped the security negotiation stage", target.FailureReason);
    }

    [Fact]
    public void Leaving_security_without_chap_when_required_is_0x0201()
    {
        var target = NewTarget(Policy(initiatorChap: new ChapCredentials("alice", "alice-secret-123")));
        Assert.Equal(LoginStatus.AuthenticationFailed, target.Process(Request(Sec, true, Op, Iname, Tname)).Status);
    }

    [Fact]
    public void Starting_in_the_operational_stage_without_auth_requirement_is_fine()
    {
        var target = NewTarget();
        var response = target.Process(Request(Op, true, Ffp, Iname, Tname, "MaxRecvDataSegmentLength=65536"));
        Assert.True(response.Transit);
        Assert.True(target.IsComplete);
        Assert.Equal("1", Keys(response.TextData)["TargetPortalGroupTag"]);
    }

    [Fact]
    public void A_key_sent_twice_in_one_login_is_an_initiator_error()
    {
        var target = NewTarget();
        target.Process(Request(Sec, true, Op, Iname, Tname, "AuthMethod=None"));
        target.Process(Request(Op, false, Op, "MaxBurstLength=65536"));
        var response = target.Process(Request(Op, true, Ffp, "MaxBurstLength=32768"));
        Assert.Equal(LoginStatus.InitiatorError, response.Status);
        Assert.Contains("MaxBurstLength a second time", target.FailureReason);
    }

    [Fact]
    public void A_key_repeated_inside_one_request_is_an_initiator_error()
    {
        var target = NewTarget();
        var response = target.Process(Request(Sec, true, Op, Iname, Tname, "AuthMethod=None", "AuthMethod=CHAP"));
        Assert.Equal(LoginStatus.InitiatorError, response.Status);
        Assert.Contains("appears more than once", target.FailureReason);
    }

    [Fact]
    public void Security_keys_in_the_operational_stage_are_an_initiator_error()
    {
        var target = NewTarget();
        target.Process(Request(Sec, true, Op, Iname, Tname, "AuthMethod=None"));
        var response = target.Process(Request(Op, true, Ffp, "CHAP_A=5"));
        Assert.Equal(LoginStatus.InitiatorError, response.Status);
        Assert.Contains("security negotiation stage", target.FailureReason);
    }

    [Fact]
    public void T_and_C_together_are_refused()
    {
        var target = NewTarget();
        var request = Request(Sec, true, Op, Iname, Tname) with { Continue = true };
        Assert.Equal(LoginStatus.InitiatorError, target.Process(request).Status);
        Assert.Contains("both the T and the C bit", target.FailureReason);
    }

    [Fact]
    public void Stage_mismatch_and_invalid_transitions_are_refused()
    {
        var target = NewTarget();
        target.Process(Request(Sec, false, Sec, Iname, Tname, "AuthMethod=None"));
        Assert.Equal(LoginStatus.InitiatorError, target.Process(Request(Op, true, Ffp)).Status);
        Assert.Contains("the login is in stage SecurityNegotiation", target.FailureReason);

        var backwards = NewTarget();
        Assert.Equal(LoginStatus.InitiatorError, backwards.Process(Request(Op, true, Sec, Iname, Tname)).Status);

        var reserved = NewTarget();
        Assert.Equal(LoginStatus.InitiatorError, reserved.Process(Request(Sec, true, (LoginStage)2, Iname, Tname)).Status);
    }

    [Fact]
    public void Unknown_and_extension_keys_are_answered_NotUnderstood()
    {
        var target = NewTarget();
        target.Process(Request(Sec, true, Op, Iname, Tname, "AuthMethod=None"));
        var keys = Keys(target.Process(Request(Op, false, Op, "FancyKey=1", "X-com.example.Tuning=7")).TextData);
        Assert.Equal("NotUnderstood", keys["FancyKey"]);
        Assert.Equal("NotUnderstood", keys["X-com.example.Tuning"]);
    }

    [Fact]
    public void Out_of_range_obsolete_and_wrong_sender_keys_are_rejected()
    {
        var target = NewTarget();
        target.Process(Request(Sec, true, Op, Iname, Tname, "AuthMethod=None"));
        var keys = Keys(target.Process(Request(Op, false, Op, "MaxBurstLength=100", "ErrorRecoveryLevel=5", "OFMarker=No",
            "IFMarkInt=2048~8192", "TargetAlias=mine", "SendTargets=All")).TextData);
        Assert.Equal("Reject", keys["MaxBurstLength"]);
        Assert.Equal("Reject", keys["ErrorRecoveryLevel"]);
        Assert.Equal("Reject", keys["OFMarker"]);
        Assert.Equal("Reject", keys["IFMarkInt"]);
        Assert.Equal("Reject", keys["TargetAlias"]);
        Assert.Equal("Reject", keys["SendTargets"]);
    }

    [Fact]
    public void Discovery_session_answers_Irrelevant_for_normal_session_keys()
    {
        var target = NewTarget();
        target.Process(Request(Sec, true, Op, Iname, "SessionType=Discovery", "AuthMethod=None"));
        var response = target.Process(Request(Op, true, Ffp, "MaxBurstLength=65536", "InitialR2T=No", "MaxConnections=2",
            "HeaderDigest=None", "DefaultTime2Wait=4"));
        var keys = Keys(response.TextData);
        Assert.Equal("Irrelevant", keys["MaxBurstLength"]);
        Assert.Equal("Irrelevant", keys["InitialR2T"]);
        Assert.Equal("Irrelevant", keys["MaxConnections"]);
        Assert.Equal("None", keys["HeaderDigest"]);
        Assert.Equal("4", keys["DefaultTime2Wait"]);
        Assert.False(keys.ContainsKey("TargetPortalGroupTag"));
        Assert.True(target.IsComplete);
    }

    [Fact]
    public void FirstBurstLength_is_Irrelevant_when_InitialR2T_Yes_and_ImmediateData_No()
    {
        var target = NewTarget();
        target.Process(Request(Sec, true, Op, Iname, Tname, "AuthMethod=None"));
        // FirstBurstLength comes first on the wire; the result still depends on the two keys after it.
        var keys = Keys(target.Process(Request(Op, true, Ffp, "FirstBurstLength=4096", "InitialR2T=Yes", "ImmediateData=No")).TextData);
        Assert.Equal("Irrelevant", keys["FirstBurstLength"]);
    }

    [Fact]
    public void FirstBurstLength_never_exceeds_MaxBurstLength()
    {
        var target = NewTarget();
        target.Process(Request(Sec, true, Op, Iname, Tname, "AuthMethod=None"));
        var keys = Keys(target.Process(Request(Op, true, Ffp, "FirstBurstLength=131072", "MaxBurstLength=16384")).TextData);
        Assert.Equal("16384", keys["MaxBurstLength"]);
        Assert.Equal("16384", keys["FirstBurstLength"]);
    }

    [Fact]
    public void Continued_request_is_acknowledged_empty_and_processed_when_complete()
    {
        var target = NewTarget();
        var text = TextKeyValueCodec.Encode(new TextKeyValue("InitiatorName", InitiatorIqn), new TextKeyValue("TargetName", TargetIqn),
            new TextKeyValue("AuthMethod", "None"));
        var first = new LoginRequestFrame(false, true, Sec, Sec, 0, 0, 1, 0, 0, 0, text.AsMemory(0, 20)); // cuts InitiatorName in two
        var ack = target.Process(first);
        Assert.True(ack.Status.IsSuccess);
        Assert.Equal(0, ack.TextData.Length);
        Assert.False(ack.Transit);
        Assert.Null(target.InitiatorName);

        var rest = new LoginRequestFrame(true, false, Sec, Op, 0, 0, 1, 0, 0, 0, text.AsMemory(20));
        var response = target.Process(rest);
        Assert.True(response.Transit);
        Assert.Equal(InitiatorIqn, target.InitiatorName);
        Assert.Equal("None", Keys(response.TextData)["AuthMethod"]);
    }

    [Fact]
    public void Text_sent_while_the_target_is_still_delivering_a_continued_response_is_refused()
    {
        var target = NewTarget(Policy(loginSegment: 512));
        target.Process(Request(Sec, true, Op, Iname, Tname, "AuthMethod=None"));
        var many = Enumerable.Range(0, 30).Select(n => $"X-k{n}=" + new string('x', 30)).ToArray();
        var response = target.Process(Request(Op, false, Op, many));
        Assert.True(response.Continue);
        Assert.Equal(LoginStatus.InitiatorError, target.Process(Request(Op, false, Op, "MaxConnections=1")).Status);
    }

    [Fact]
    public void Target_offers_ImmediateData_No_on_iSER_when_the_initiator_did_not_offer_it()
    {
        var target = NewTarget(Policy(iser: true));
        target.Process(Request(Sec, true, Op, Iname, Tname, "AuthMethod=None"));
        var offer = target.Process(Request(Op, true, Ffp, "RDMAExtensions=Yes"));
        Assert.False(offer.Transit);
        Assert.Equal("No", Keys(offer.TextData)["ImmediateData"]);

        // The AND rule lets the initiator stay silent on ImmediateData=No; the result is No.
        var done = target.Process(Request(Op, true, Ffp));
        Assert.True(done.Transit);
        Assert.False(target.Result.Connection.ImmediateData);
        Assert.True(target.Result.Connection.RdmaExtensions);
    }

    [Fact]
    public void Unanswered_numerical_offer_is_an_initiator_error()
    {
        var target = NewTarget(Policy(new OperationalLimits { MaxBurstLength = 65536 }));
        target.Process(Request(Sec, true, Op, Iname, Tname, "AuthMethod=None"));
        var offer = target.Process(Request(Op, true, Ffp));
        Assert.Equal("65536", Keys(offer.TextData)["MaxBurstLength"]);
        Assert.Equal(LoginStatus.InitiatorError, target.Process(Request(Op, true, Ffp)).Status);
        Assert.Contains("did not answer", target.FailureReason);
    }

    [Fact]
    public void Iser_target_refuses_RDMAExtensions_No_at_once()
    {
        var target = NewTarget(Policy(iser: true));
        target.Process(Request(Sec, true, Op, Iname, Tname, "AuthMethod=None"));
        var response = target.Process(Request(Op, false, Op, "RDMAExtensions=No"));
        Assert.Equal(LoginStatus.InitiatorError, response.Status);
        Assert.Contains("RDMAExtensions=No", target.FailureReason);
    }

    [Fact]
    public void Tcp_target_answers_RDMAExtensions_No_and_iSER_keys_Irrelevant()
    {
        var target = NewTarget();
        target.Process(Request(Sec, true, Op, Iname, Tname, "AuthMethod=None"));
        var keys = Keys(target.Process(Request(Op, true, Ffp, "RDMAExtensions=Yes", "TargetRecvDataSegmentLength=4096")).TextData);
        Assert.Equal("No", keys["RDMAExtensions"]);
        Assert.Equal("Irrelevant", keys["TargetRecvDataSegmentLength"]);
    }
}

public class TargetNonLeadingConnectionTests
{
    [Fact]
    public void Leading_only_keys_on_a_connection_joining_a_session_are_Irrelevant()
    {
        var target = new TargetLoginNegotiator(Policy());
        var first = Request(LoginStage.SecurityNegotiation, true, LoginStage.LoginOperationalNegotiation,
            $"InitiatorName={InitiatorIqn}", $"TargetName={TargetIqn}", "AuthMethod=None") with { Tsih = 0x1234 };
        target.Process(first);
        Assert.False(target.IsLeadingConnection);
        Assert.Equal(0x1234, target.Tsih);
        var keys = Keys(target.Process(Request(LoginStage.LoginOperationalNegotiation, true, LoginStage.FullFeaturePhase,
            "MaxBurstLength=4096", "HeaderDigest=None", "MaxRecvDataSegmentLength=4096")).TextData);
        Assert.Equal("Irrelevant", keys["MaxBurstLength"]);  // LO: the session's value stays
        Assert.Equal("None", keys["HeaderDigest"]);          // IO: negotiated per connection
        Assert.True(target.IsComplete);
    }
}
