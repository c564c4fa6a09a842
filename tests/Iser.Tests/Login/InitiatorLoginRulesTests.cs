using Iser.Core.Iscsi.Login;
using Iser.Core.Iscsi.Text;
using static Iser.Tests.Login.LoginHarness;

namespace Iser.Tests.Login;

/// <summary>The initiator driven by hand-made responses: what it sends and how it treats a misbehaving target.</summary>
public class InitiatorLoginRulesTests
{
    private static LoginResponseFrame Response(LoginStage csg, bool transit, LoginStage nsg, params string[] pairs) =>
        new(transit, false, csg, nsg, LoginStatus.Success, 0, 0,
            TextKeyValueCodec.Encode(pairs.Select(p => new TextKeyValue(p[..p.IndexOf('=')], p[(p.IndexOf('=') + 1)..]))));

    private static InitiatorLoginNegotiator InOperationalStage(out LoginRequestFrame operationalRequest, InitiatorLoginOptions? options = null)
    {
        var initiator = new InitiatorLoginNegotiator(options ?? Options());
        initiator.FirstRequest();
        operationalRequest = initiator.Process(Response(LoginStage.SecurityNegotiation, true, LoginStage.LoginOperationalNegotiation,
            "AuthMethod=None", "TargetPortalGroupTag=3"))!.Value;
        return initiator;
    }

    [Fact]
    public void First_request_is_a_security_stage_request_with_identities()
    {
        var initiator = new InitiatorLoginNegotiator(new InitiatorLoginOptions
        {
            InitiatorName = InitiatorIqn, InitiatorAlias = "host one", TargetName = TargetIqn, Isid = 0xff_0000_0000_0001UL, Cid = 5,
        });
        var request = initiator.FirstRequest();
        Assert.Equal(LoginStage.SecurityNegotiation, request.CurrentStage);
        Assert.True(request.Transit);
        Assert.Equal(LoginStage.LoginOperationalNegotiation, request.NextStage);
        Assert.Equal(0x0000_0000_0001UL, request.Isid); // only the low 48 bits
        Assert.Equal(5, request.Cid);
        Assert.Equal(0, request.VersionMax);
        Assert.Equal("InitiatorName=iqn.2026-11.org.example:host1\0InitiatorAlias=host one\0SessionType=Normal\0" +
                     "TargetName=iqn.2026-11.org.example:disk1\0AuthMethod=None\0",
            System.Text.Encoding.UTF8.GetString(request.TextData.Span));
    }

    [Fact]
    public void Operational_request_offers_every_key_and_declares_its_receive_limit()
    {
        InOperationalStage(out var request, new InitiatorLoginOptions { InitiatorName = InitiatorIqn, TargetName = TargetIqn, MaxRecvDataSegmentLength = 65536 });
        Assert.Equal(LoginStage.LoginOperationalNegotiation, request.CurrentStage);
        Assert.True(request.Transit);
        Assert.Equal(LoginStage.FullFeaturePhase, request.NextStage);
        var keys = Keys(request.TextData);
        foreach (var key in new[] { "HeaderDigest", "DataDigest", "MaxConnections", "InitialR2T", "ImmediateData", "MaxBurstLength",
                     "FirstBurstLength", "DefaultTime2Wait", "DefaultTime2Retain", "MaxOutstandingR2T", "DataPDUInOrder",
                     "DataSequenceInOrder", "ErrorRecoveryLevel" })
            Assert.True(keys.ContainsKey(key), key);
        Assert.Equal("65536", keys["MaxRecvDataSegmentLength"]);
        Assert.False(keys.ContainsKey("RDMAExtensions"));
    }

    [Fact]
    public void Answer_breaking_the_minimum_rule_fails_the_login()
    {
        var initiator = InOperationalStage(out _);
        var next = initiator.Process(Response(LoginStage.LoginOperationalNegotiation, true, LoginStage.FullFeaturePhase, "MaxBurstLength=999999"));
        Assert.Null(next);
        Assert.False(initiator.IsComplete);
        Assert.Contains("larger than the offered 262144", initiator.FailureReason);
    }

    [Fact]
    public void Target_transiting_when_not_asked_fails_the_login()
    {
        var initiator = new InitiatorLoginNegotiator(Options(chap: new ChapCredentials("alice", "alice-secret-123")));
        initiator.FirstRequest();
        var chapA = initiator.Process(Response(LoginStage.SecurityNegotiation, false, 0, "AuthMethod=CHAP"))!.Value;
        Assert.False(chapA.Transit);
        Assert.Null(initiator.Process(Response(LoginStage.SecurityNegotiation, true, LoginStage.LoginOperationalNegotiation)));
        Assert.Contains("did not ask", initiator.FailureReason);
    }

    [Fact]
    public void Target_repeating_a_key_fails_the_login()
    {
        var initiator = InOperationalStage(out _);
        Assert.Null(initiator.Process(Response(LoginStage.LoginOperationalNegotiation, true, LoginStage.FullFeaturePhase, "TargetPortalGroupTag=3")));
        Assert.Contains("TargetPortalGroupTag a second time", initiator.FailureReason);
    }

    [Fact]
    public void Unanswered_AND_No_offer_takes_the_offered_value_and_silent_numerical_offers_take_the_default()
    {
        var initiator = InOperationalStage(out _, new InitiatorLoginOptions { InitiatorName = InitiatorIqn, TargetName = TargetIqn, ImmediateData = false, MaxBurstLength = 4096 });
        Assert.Null(initiator.Process(Response(LoginStage.LoginOperationalNegotiation, true, LoginStage.FullFeaturePhase)));
        Assert.True(initiator.IsComplete);
        Assert.False(initiator.Result.Connection.ImmediateData);
        Assert.Equal(262144, initiator.Result.Connection.MaxBurstLength);
        Assert.Equal((ushort)3, initiator.Result.TargetPortalGroupTag);
    }

    [Fact]
    public void Initiator_answers_a_target_offer_by_the_rule()
    {
        var initiator = InOperationalStage(out _, new InitiatorLoginOptions { InitiatorName = InitiatorIqn, TargetName = TargetIqn, MaxOutstandingUnexpectedPdus = 8, Iser = true });
        // The target offers TaskReporting (not offered by the initiator) and an unknown key.
        var next = initiator.Process(Response(LoginStage.LoginOperationalNegotiation, false, 0, "RDMAExtensions=Yes",
            "TaskReporting=FastAbort,RFC3720", "X-vendor.Thing=1"))!.Value;
        var keys = Keys(next.TextData);
        Assert.Equal("RFC3720", keys["TaskReporting"]);
        Assert.Equal("NotUnderstood", keys["X-vendor.Thing"]);
        Assert.True(next.Transit);
    }

    [Fact]
    public void Redirection_reports_the_new_address()
    {
        var initiator = new InitiatorLoginNegotiator(Options());
        initiator.FirstRequest();
        var redirect = new LoginResponseFrame(false, false, LoginStage.SecurityNegotiation, 0, LoginStatus.TargetMovedTemporarily, 0, 0,
            TextKeyValueCodec.Encode(new TextKeyValue("TargetAddress", "[fe80::2]:3260,1")));
        Assert.Null(initiator.Process(redirect));
        Assert.Equal("[fe80::2]:3260,1", initiator.RedirectAddress);
        Assert.Equal(LoginStatus.TargetMovedTemporarily, initiator.FailureStatus);
        Assert.Contains("Redirection: target moved temporarily (0x0101)", initiator.FailureReason);
    }

    [Fact]
    public void Wrong_version_and_wrong_stage_are_refused()
    {
        var initiator = new InitiatorLoginNegotiator(Options());
        initiator.FirstRequest();
        Assert.Null(initiator.Process(Response(LoginStage.SecurityNegotiation, false, 0) with { VersionActive = 1 }));
        Assert.Contains("version 0x01", initiator.FailureReason);

        var other = new InitiatorLoginNegotiator(Options());
        other.FirstRequest();
        Assert.Null(other.Process(Response(LoginStage.LoginOperationalNegotiation, false, 0)));
        Assert.Contains("stage", other.FailureReason);
    }

    [Fact]
    public void Continued_response_is_fetched_with_empty_requests()
    {
        var initiator = new InitiatorLoginNegotiator(Options());
        initiator.FirstRequest();
        var text = TextKeyValueCodec.Encode(new TextKeyValue("AuthMethod", "None"), new TextKeyValue("TargetAlias", new string('a', 200)));
        var part1 = new LoginResponseFrame(false, true, LoginStage.SecurityNegotiation, 0, LoginStatus.Success, 0, 0, text.AsMemory(0, 100));
        var fetch = initiator.Process(part1)!.Value;
        Assert.Equal(0, fetch.TextData.Length);
        Assert.False(fetch.Transit);
        Assert.False(fetch.Continue);
        var part2 = new LoginResponseFrame(true, false, LoginStage.SecurityNegotiation, LoginStage.LoginOperationalNegotiation,
            LoginStatus.Success, 0, 0, text.AsMemory(100));
        var next = initiator.Process(part2)!.Value;
        Assert.Equal(LoginStage.LoginOperationalNegotiation, next.CurrentStage);
        Assert.Equal(LoginStage.LoginOperationalNegotiation, initiator.CurrentStage);
    }

    [Fact]
    public void Options_without_target_name_mean_discovery()
    {
        var request = new InitiatorLoginNegotiator(Options(targetName: null)).FirstRequest();
        Assert.Equal("Discovery", Keys(request.TextData)["SessionType"]);
        Assert.Throws<ArgumentException>(() => new InitiatorLoginNegotiator(new InitiatorLoginOptions
        {
            InitiatorName = InitiatorIqn, TargetName = TargetIqn, MutualChap = new ChapCredentials("t", "target-secret-1"),
        }));
    }
}
