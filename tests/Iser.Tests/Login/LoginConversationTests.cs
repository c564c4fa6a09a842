using Iser.Core.Iscsi.Login;
using Iser.Core.Iscsi.Text;
using static Iser.Tests.Login.LoginHarness;

namespace Iser.Tests.Login;

/// <summary>Full logins: <see cref="InitiatorLoginNegotiator"/> against <see cref="TargetLoginNegotiator"/>.</summary>
public class LoginConversationTests
{
    [Fact]
    public void Normal_login_without_authentication_reaches_full_feature_phase()
    {
        var target = new TargetLoginNegotiator(Policy(new OperationalLimits { MaxBurstLength = 131072, MaxRecvDataSegmentLength = 65536, InitialR2T = false }));
        var initiator = new InitiatorLoginNegotiator(new InitiatorLoginOptions
        {
            InitiatorName = InitiatorIqn, TargetName = TargetIqn, MaxBurstLength = 262144, FirstBurstLength = 32768,
            InitialR2T = false, ImmediateData = true, MaxRecvDataSegmentLength = 16384, ErrorRecoveryLevel = 2, DefaultTime2Wait = 1,
        });
        var exchanges = Run(initiator, target);

        Assert.True(initiator.IsComplete, initiator.FailureReason);
        Assert.True(target.IsComplete);
        Assert.Equal(2, exchanges.Count);

        // First exchange: security stage, identities, AuthMethod=None, TPGT in the first response of a normal session.
        var first = exchanges[0];
        var sent = Keys(first.Request.TextData);
        Assert.Equal(InitiatorIqn, sent["InitiatorName"]);
        Assert.Equal(TargetIqn, sent["TargetName"]);
        Assert.Equal("Normal", sent["SessionType"]);
        Assert.Equal("None", sent["AuthMethod"]);
        var answered = Keys(first.Response.TextData);
        Assert.Equal("1", answered["TargetPortalGroupTag"]);
        Assert.Equal("None", answered["AuthMethod"]);
        Assert.Equal("disk one", answered["TargetAlias"]);
        Assert.True(first.Response.Transit);
        Assert.Equal(LoginStage.LoginOperationalNegotiation, first.Response.NextStage);

        // Second exchange: operational stage to full feature phase.
        var last = exchanges[1];
        Assert.Equal(LoginStage.LoginOperationalNegotiation, last.Request.CurrentStage);
        Assert.True(last.Response.Transit);
        Assert.Equal(LoginStage.FullFeaturePhase, last.Response.NextStage);
        var ops = Keys(last.Response.TextData);
        Assert.Equal("131072", ops["MaxBurstLength"]);  // minimum
        Assert.Equal("No", ops["InitialR2T"]);          // OR of No and No
        Assert.Equal("Yes", ops["ImmediateData"]);      // AND of Yes and Yes
        Assert.Equal("0", ops["ErrorRecoveryLevel"]);   // minimum of 2 and 0
        Assert.Equal("2", ops["DefaultTime2Wait"]);     // maximum of 1 and 2
        Assert.Equal("65536", ops["MaxRecvDataSegmentLength"]); // the target's declaration

        var i = initiator.Result;
        var t = target.Result;
        Assert.Equal(131072, i.Connection.MaxBurstLength);
        Assert.Equal(32768, i.Connection.FirstBurstLength);
        Assert.False(i.Connection.InitialR2T);
        Assert.True(i.Connection.ImmediateData);
        Assert.Equal(16384, i.Connection.MaxRecvDataSegmentLength);
        Assert.Equal(65536, i.Connection.MaxXmitDataSegmentLength);
        Assert.Equal(65536, t.Connection.MaxRecvDataSegmentLength);
        Assert.Equal(16384, t.Connection.MaxXmitDataSegmentLength);
        Assert.Equal(i.Connection.MaxBurstLength, t.Connection.MaxBurstLength);
        Assert.Equal(i.Connection.FirstBurstLength, t.Connection.FirstBurstLength);
        Assert.Equal(2, i.DefaultTime2Wait);
        Assert.Equal(1, (int)i.TargetPortalGroupTag!);
        Assert.Equal("disk one", i.TargetAlias);
        Assert.Equal(InitiatorIqn, t.InitiatorName);
        Assert.Equal(TargetIqn, t.TargetName);
        Assert.False(t.IsDiscovery);
        Assert.Equal("None", t.AuthMethod);

        var burst = i.Keys.Single(k => k.Name == "MaxBurstLength");
        Assert.Equal(("262144", "131072", "131072"), (burst.Requested, burst.Answered, burst.Result));
        Assert.False(burst.OfferedByPeer);
        Assert.Contains(t.Keys, k => k is { Name: "MaxBurstLength", OfferedByPeer: true, Requested: "262144", Answered: "131072" });
    }

    [Fact]
    public void Digest_selection_follows_the_initiators_order()
    {
        var target = new TargetLoginNegotiator(Policy(new OperationalLimits { HeaderDigest = "None,CRC32C", DataDigest = "None" }));
        var initiator = new InitiatorLoginNegotiator(new InitiatorLoginOptions
        {
            InitiatorName = InitiatorIqn, TargetName = TargetIqn, HeaderDigest = "CRC32C,None", DataDigest = "CRC32C,None",
        });
        Run(initiator, target);
        Assert.True(initiator.IsComplete, initiator.FailureReason);
        Assert.True(initiator.Result.Connection.HeaderDigest);
        Assert.False(initiator.Result.Connection.DataDigest);
        Assert.True(target.Result.Connection.HeaderDigest);
    }

    [Fact]
    public void One_way_chap_login_succeeds()
    {
        var target = new TargetLoginNegotiator(Policy(initiatorChap: new ChapCredentials("alice", "alice-secret-123")));
        var initiator = new InitiatorLoginNegotiator(Options(chap: new ChapCredentials("alice", "alice-secret-123")));
        var exchanges = Run(initiator, target);

        Assert.True(initiator.IsComplete, initiator.FailureReason);
        Assert.True(target.IsComplete);
        Assert.Equal("CHAP,None", Keys(exchanges[0].Request.TextData)["AuthMethod"]);
        Assert.Equal("CHAP", Keys(exchanges[0].Response.TextData)["AuthMethod"]);
        Assert.False(exchanges[0].Response.Transit);
        // The initiator offers MD5 alone by default (as open-iscsi does), and the target accepts it.
        Assert.Equal("5", Keys(exchanges[1].Request.TextData)["CHAP_A"]);
        var challenge = Keys(exchanges[1].Response.TextData);
        Assert.Equal("5", challenge["CHAP_A"]);
        Assert.True(BinaryValue.TryDecode(challenge["CHAP_C"], out var c) && c.Length >= 16);
        var answer = Keys(exchanges[2].Request.TextData);
        Assert.Equal("alice", answer["CHAP_N"]);
        Assert.Equal(BinaryValue.EncodeHex(ChapAuthenticator.ComputeResponse(byte.Parse(challenge["CHAP_I"]), "alice-secret-123", c)), answer["CHAP_R"]);
        Assert.True(exchanges[2].Response.Transit);
        Assert.Equal("CHAP", target.Result.AuthMethod);
        Assert.False(target.Result.MutualAuthentication);
    }

    [Theory]
    [InlineData(ChapAlgorithm.Sha256)]
    [InlineData(ChapAlgorithm.Sha1)]
    public void Mutual_chap_under_a_sha_algorithm_succeeds_both_ways_with_challenges_as_long_as_its_digest(ChapAlgorithm algorithm)
    {
        var target = new TargetLoginNegotiator(Policy(initiatorChap: new ChapCredentials("alice", "alice-secret-123"),
            targetChap: new ChapCredentials("disk1", "disk1-secret-456"), chapAlgorithms: [algorithm]));
        var initiator = new InitiatorLoginNegotiator(Options(chap: new ChapCredentials("alice", "alice-secret-123"),
            mutual: new ChapCredentials("disk1", "disk1-secret-456"), chapAlgorithms: [algorithm, ChapAlgorithm.Md5]));
        var exchanges = Run(initiator, target);

        Assert.True(initiator.IsComplete, initiator.FailureReason);
        Assert.True(target.Result.MutualAuthentication);
        Assert.Equal($"{(int)algorithm},5", Keys(exchanges[1].Request.TextData)["CHAP_A"]);
        var challenge = Keys(exchanges[1].Response.TextData);
        Assert.Equal(((int)algorithm).ToString(), challenge["CHAP_A"]);
        Assert.True(BinaryValue.TryDecode(challenge["CHAP_C"], out var c));
        Assert.Equal(ChapAlgorithms.ChallengeLength(algorithm), c.Length);
        var answer = Keys(exchanges[2].Request.TextData);
        Assert.Equal(BinaryValue.EncodeHex(ChapAuthenticator.ComputeResponse(algorithm, byte.Parse(challenge["CHAP_I"]), "alice-secret-123", c)), answer["CHAP_R"]);
        Assert.True(BinaryValue.TryDecode(answer["CHAP_C"], out var mutual));
        Assert.Equal(ChapAlgorithms.ChallengeLength(algorithm), mutual.Length);
        Assert.Equal(BinaryValue.EncodeHex(ChapAuthenticator.ComputeResponse(algorithm, byte.Parse(answer["CHAP_I"]), "disk1-secret-456", mutual)),
            Keys(exchanges[2].Response.TextData)["CHAP_R"]);
    }

    [Fact]
    public void Mutual_chap_login_succeeds_both_ways()
    {
        var target = new TargetLoginNegotiator(Policy(initiatorChap: new ChapCredentials("alice", "alice-secret-123"),
            targetChap: new ChapCredentials("disk1", "disk1-secret-456")));
        var initiator = new InitiatorLoginNegotiator(Options(chap: new ChapCredentials("alice", "alice-secret-123"),
            mutual: new ChapCredentials("disk1", "disk1-secret-456")));
        var exchanges = Run(initiator, target);

        Assert.True(initiator.IsComplete, initiator.FailureReason);
        Assert.True(target.Result.MutualAuthentication);
        Assert.True(initiator.Result.MutualAuthentication);
        Assert.Equal("CHAP", Keys(exchanges[0].Request.TextData)["AuthMethod"]); // mutual insists on CHAP
        var proof = Keys(exchanges[2].Response.TextData);
        Assert.Equal("disk1", proof["CHAP_N"]);
        Assert.True(proof.ContainsKey("CHAP_R"));
    }

    [Fact]
    public void Mutual_chap_with_an_impostor_target_fails_at_the_initiator()
    {
        var target = new TargetLoginNegotiator(Policy(initiatorChap: new ChapCredentials("alice", "alice-secret-123"),
            targetChap: new ChapCredentials("disk1", "not-the-right-one")));
        var initiator = new InitiatorLoginNegotiator(Options(chap: new ChapCredentials("alice", "alice-secret-123"),
            mutual: new ChapCredentials("disk1", "disk1-secret-456")));
        Run(initiator, target);
        Assert.False(initiator.IsComplete);
        Assert.Contains("target's CHAP response does not match", initiator.FailureReason);
    }

    [Fact]
    public void Wrong_chap_secret_fails_with_authentication_failure()
    {
        var target = new TargetLoginNegotiator(Policy(initiatorChap: new ChapCredentials("alice", "alice-secret-123")));
        var initiator = new InitiatorLoginNegotiator(Options(chap: new ChapCredentials("alice", "wrong-secret-999")));
        var exchanges = Run(initiator, target);
        Assert.Equal(LoginStatus.AuthenticationFailed, exchanges[^1].Response.Status);
        Assert.True(target.Failed);
        Assert.Equal(LoginStatus.AuthenticationFailed, initiator.FailureStatus);
        Assert.Equal("The target refused the login: Initiator error: authentication failed (0x0201).", initiator.FailureReason);
    }

    [Fact]
    public void Chap_required_but_initiator_offers_only_None_fails_with_0x0201()
    {
        var target = new TargetLoginNegotiator(Policy(initiatorChap: new ChapCredentials("alice", "alice-secret-123")));
        var initiator = new InitiatorLoginNegotiator(Options());
        var exchanges = Run(initiator, target);
        Assert.Single(exchanges);
        Assert.Equal(LoginStatus.AuthenticationFailed, exchanges[0].Response.Status);
        Assert.Contains("requires CHAP", target.FailureReason);
        Assert.False(initiator.IsComplete);
    }

    [Fact]
    public void Initiator_requiring_mutual_chap_refuses_a_target_that_chooses_None()
    {
        var target = new TargetLoginNegotiator(Policy());
        var initiator = new InitiatorLoginNegotiator(new InitiatorLoginOptions
        {
            InitiatorName = InitiatorIqn, TargetName = TargetIqn, Chap = new ChapCredentials("alice", "alice-secret-123"),
            MutualChap = new ChapCredentials("disk1", "disk1-secret-456"),
        });
        Run(initiator, target);
        Assert.False(initiator.IsComplete);
        Assert.Contains("AuthMethod", target.FailureReason ?? initiator.FailureReason);
    }

    [Fact]
    public void Discovery_session_negotiates_only_the_keys_that_apply()
    {
        var target = new TargetLoginNegotiator(Policy());
        var initiator = new InitiatorLoginNegotiator(Options(targetName: null));
        var exchanges = Run(initiator, target);

        Assert.True(initiator.IsComplete, initiator.FailureReason);
        Assert.True(target.Result.IsDiscovery);
        Assert.Null(target.Result.TargetName);
        Assert.Equal("Discovery", Keys(exchanges[0].Request.TextData)["SessionType"]);
        Assert.False(Keys(exchanges[0].Request.TextData).ContainsKey("TargetName"));
        Assert.False(Keys(exchanges[0].Response.TextData).ContainsKey("TargetPortalGroupTag"));
        var ops = Keys(exchanges[^1].Request.TextData);
        Assert.False(ops.ContainsKey("MaxBurstLength"));
        Assert.False(ops.ContainsKey("InitialR2T"));
        Assert.True(ops.ContainsKey("HeaderDigest"));
        Assert.True(ops.ContainsKey("MaxRecvDataSegmentLength"));
    }

    [Fact]
    public void Iser_login_forces_rdma_placement_rules()
    {
        var target = new TargetLoginNegotiator(Policy(new OperationalLimits { TargetRecvDataSegmentLength = 4096, InitiatorRecvDataSegmentLength = 262144 }, iser: true));
        var initiator = new InitiatorLoginNegotiator(new InitiatorLoginOptions
        {
            InitiatorName = InitiatorIqn, TargetName = TargetIqn, Iser = true, InitialR2T = false, ImmediateData = true,
            HeaderDigest = "CRC32C,None", InitiatorRecvDataSegmentLength = 16384, TargetRecvDataSegmentLength = 65536,
        });
        var exchanges = Run(initiator, target);

        Assert.True(initiator.IsComplete, initiator.FailureReason);
        var ops = Keys(exchanges[^1].Response.TextData);
        Assert.Equal("Yes", ops["RDMAExtensions"]);
        Assert.Equal("Yes", ops["InitialR2T"]);
        Assert.Equal("No", ops["ImmediateData"]);
        Assert.Equal("None", ops["HeaderDigest"]);
        Assert.Equal("Irrelevant", ops["FirstBurstLength"]); // InitialR2T=Yes and ImmediateData=No
        Assert.Equal("4096", ops["TargetRecvDataSegmentLength"]);
        Assert.Equal("16384", ops["InitiatorRecvDataSegmentLength"]);

        var i = initiator.Result.Connection;
        var t = target.Result.Connection;
        Assert.True(i.RdmaExtensions && t.RdmaExtensions);
        Assert.True(i.InitialR2T && t.InitialR2T);
        Assert.False(i.ImmediateData || t.ImmediateData);
        Assert.False(i.HeaderDigest || t.HeaderDigest);
        Assert.Equal(16384, i.MaxRecvDataSegmentLength);
        Assert.Equal(4096, i.MaxXmitDataSegmentLength);
        Assert.Equal(4096, t.MaxRecvDataSegmentLength);
        Assert.Equal(16384, t.MaxXmitDataSegmentLength);
    }

    [Fact]
    public void Iser_target_refuses_a_login_without_RDMAExtensions()
    {
        var target = new TargetLoginNegotiator(Policy(iser: true));
        var initiator = new InitiatorLoginNegotiator(Options());
        var exchanges = Run(initiator, target);
        Assert.Equal(LoginStatus.InitiatorError, exchanges[^1].Response.Status);
        Assert.Contains("accepts only iSER logins", target.FailureReason);
        Assert.Contains("0x0200", initiator.FailureReason);
    }

    [Fact]
    public void Iser_initiator_refuses_a_target_that_answers_RDMAExtensions_No()
    {
        var target = new TargetLoginNegotiator(Policy());
        var initiator = new InitiatorLoginNegotiator(Options(iser: true));
        var exchanges = Run(initiator, target);
        Assert.Equal("No", Keys(exchanges[^1].Response.TextData)["RDMAExtensions"]);
        Assert.False(initiator.IsComplete);
        Assert.Contains("does not accept iSER", initiator.FailureReason);
    }

    [Fact]
    public void Target_offers_its_own_value_for_a_key_the_initiator_left_out_and_the_initiator_answers()
    {
        var target = new TargetLoginNegotiator(Policy(new OperationalLimits { MaxOutstandingUnexpectedPdus = 16 }, iser: true));
        var initiator = new InitiatorLoginNegotiator(new InitiatorLoginOptions { InitiatorName = InitiatorIqn, TargetName = TargetIqn, Iser = true });
        var exchanges = Run(initiator, target);

        Assert.True(initiator.IsComplete, initiator.FailureReason);
        var offerExchange = exchanges.Single(e => Keys(e.Response.TextData).ContainsKey("MaxOutstandingUnexpectedPDUs"));
        Assert.False(offerExchange.Response.Transit); // the target waits for the answer before leaving the stage
        Assert.Equal("16", Keys(offerExchange.Response.TextData)["MaxOutstandingUnexpectedPDUs"]);
        Assert.Equal("16", Keys(exchanges[^1].Request.TextData)["MaxOutstandingUnexpectedPDUs"]);
        Assert.Equal(16, target.Result.Connection.MaxOutstandingUnexpectedPdus);
        Assert.Equal(16, initiator.Result.Connection.MaxOutstandingUnexpectedPdus);
    }

    [Fact]
    public void Long_text_is_split_with_the_C_bit_in_both_directions_and_reassembled()
    {
        var extra = Enumerable.Range(0, 40).Select(n => new TextKeyValue($"X-org.example.key{n}", new string('v', 100))).ToArray();
        var target = new TargetLoginNegotiator(Policy(loginSegment: 512));
        var initiator = new InitiatorLoginNegotiator(new InitiatorLoginOptions
        {
            InitiatorName = InitiatorIqn, TargetName = TargetIqn, ExtraKeys = extra, LoginMaxSegmentLength = 512,
        });
        var exchanges = Run(initiator, target);

        Assert.True(initiator.IsComplete, initiator.FailureReason);
        var continued = exchanges.Where(e => e.Request.Continue).ToList();
        Assert.True(continued.Count >= 8);
        Assert.All(continued, e => Assert.Equal(0, e.Response.TextData.Length)); // the target acknowledges each piece empty
        Assert.All(exchanges, e => Assert.True(e.Request.TextData.Length <= 512 && e.Response.TextData.Length <= 512));
        var continuedResponses = exchanges.Where(e => e.Response.Continue).ToList();
        Assert.True(continuedResponses.Count >= 2); // 40 NotUnderstood answers (~1.4 KB) do not fit in 512 bytes
        Assert.All(continuedResponses, e => Assert.False(e.Response.Transit));
        // The initiator fetched every piece with an empty request.
        int firstContinuedResponse = exchanges.FindIndex(e => e.Response.Continue);
        Assert.All(exchanges.Skip(firstContinuedResponse + 1), e => Assert.Equal(0, e.Request.TextData.Length));
        Assert.Equal(40, initiator.Result.Keys.Count(k => k.Name.StartsWith("X-") && k.Answered == "NotUnderstood"));
        Assert.True(exchanges[^1].Response.Transit);
    }
}
