using CsCheck;
using Iser.Core.Iscsi.Login;
using Iser.Core.Iscsi.Text;
using Iser.Tests.Login;

namespace Iser.Tests.Fuzz;

/// <summary>
/// Both login negotiators fed arbitrary login PDUs. Two ways in: a stand-alone negotiator fed a sequence of made-up
/// PDUs (random stage bits, versions, TSIH, C and T bits, text that is valid pairs, mutated pairs or random bytes), and a
/// real initiator talking to a real target with the fuzzer in the middle editing the PDUs of one direction, which gets
/// past identification and CHAP into operational negotiation. Each negotiator must answer every PDU without an
/// exception; a refusal is a Login Response with a failure status and a reason (target) or a FailureReason and no next
/// request (initiator); the text either sends parses; an untouched conversation completes on both sides.
/// </summary>
[Trait("Category", "Fuzz")]
public sealed class LoginNegotiatorFuzzTests
{
    private static readonly ChapCredentials InitiatorChap = new("initiator-user", "initiator-secret-1");
    private static readonly ChapCredentials TargetChap = new("target-user", "target-secret-22");

    internal sealed record Step(bool Transit, bool Continue, byte Csg, byte Nsg, byte VersionMax, byte VersionMin, ushort Tsih, LoginStatus Status, byte[] Text)
    {
        public override string ToString() =>
            $"[T={Transit} C={Continue} csg={Csg} nsg={Nsg} vmax={VersionMax} vmin={VersionMin} tsih={Tsih} status={Status.StatusClass:x2}{Status.StatusDetail:x2} text={FuzzCampaign.Hex(Text)}]";
    }

    // Mostly well-formed framing so the text reaches the key handling; sometimes anything.
    private static readonly Gen<byte> Stage = Gen.Frequency((4, Gen.Const((byte)0)), (4, Gen.Const((byte)1)), (2, Gen.Const((byte)3)), (1, Gen.Byte[0, 3]));
    private static readonly Gen<byte> Version = Gen.Frequency((9, Gen.Const((byte)0)), (1, Gen.Byte));
    private static readonly Gen<LoginStatus> Status = Gen.Frequency(
        (12, Gen.Const(LoginStatus.Success)),
        (1, Gen.Select(Gen.Byte[0, 4], Gen.Byte[0, 12], (c, d) => new LoginStatus(c, d))));

    /// <summary>Text built around what a login carries: identities, AuthMethod, CHAP keys and operational keys.</summary>
    private static readonly Gen<byte[]> LoginText = Gen.Frequency(
        (3, Gen.Select(KeyValueGen.Pair.Array[0, 10], Gen.Bool, (pairs, identify) =>
            KeyValueGen.Encode((identify
                ? new[] { new TextKeyValue(KeyNames.InitiatorName, LoginHarness.InitiatorIqn), new TextKeyValue(KeyNames.TargetName, LoginHarness.TargetIqn) }
                : []).Concat(pairs).DistinctBy(p => p.Key)))),
        (2, KeyValueGen.Text()));

    private static readonly Gen<Step> GenStep =
        Gen.Select(Gen.Frequency((3, Gen.Const(true)), (2, Gen.Const(false))), Gen.Frequency((1, Gen.Const(true)), (5, Gen.Const(false))),
            Stage, Stage, Version, Version, Gen.Frequency((8, Gen.Const((ushort)0)), (1, Gen.UShort)), Status)
        .SelectMany(t => LoginText.Select(text => new Step(t.Item1, t.Item2, t.Item3, t.Item4, t.Item5, t.Item6, t.Item7, t.Item8, text)));

    internal sealed record Conversation(int Credentials, bool Iser, int Segment, Step[] Steps)
    {
        public override string ToString() => $"credentials={Credentials} iser={Iser} segment={Segment} " + string.Join(" ", Steps.Select(s => s.ToString()));
    }

    private static readonly Gen<Conversation> GenConversation =
        Gen.Select(Gen.Int[0, 2], Gen.Bool, Gen.OneOf(512, 8192, 65536), GenStep.Array[1, 8], (c, i, s, steps) => new Conversation(c, i, s, steps));

    private static void AssertSendable(ReadOnlyMemory<byte> text, bool continued)
    {
        // A continued chunk may end inside a pair; only a complete one must parse.
        if (!continued) Assert.True(TextKeyValueCodec.TryParse(text.Span, out _, out var error), $"sent unparseable text: {error}");
    }

    private static TargetLoginPolicy Policy(int credentials, bool iser, int segment) => LoginHarness.Policy(
        initiatorChap: credentials >= 1 ? InitiatorChap : null, targetChap: credentials == 2 ? TargetChap : null, iser: iser, loginSegment: segment);

    private static InitiatorLoginOptions Options(int credentials, bool iser, int segment) => new()
    {
        InitiatorName = LoginHarness.InitiatorIqn,
        TargetName = LoginHarness.TargetIqn,
        Chap = credentials >= 1 ? InitiatorChap : null,
        MutualChap = credentials == 2 ? TargetChap : null,
        Iser = iser,
        LoginMaxSegmentLength = segment,
    };

    /// <summary>Feeds one request to the target and checks its answer.</summary>
    private static LoginResponseFrame Answer(TargetLoginNegotiator target, in LoginRequestFrame request, int segment)
    {
        var response = target.Process(request);
        if (target.Failed)
        {
            Assert.False(response.Status.IsSuccess);
            Assert.Equal(target.FailureStatus, response.Status);
            Assert.False(string.IsNullOrWhiteSpace(target.FailureReason));
        }
        else
        {
            Assert.True(response.Status.IsSuccess);
            AssertSendable(response.TextData, response.Continue);
            Assert.InRange(response.TextData.Length, 0, segment);
        }
        if (target.IsComplete) Assert.NotNull(target.Result);
        return response;
    }

    /// <summary>Feeds one response to the initiator and checks what it does next.</summary>
    private static LoginRequestFrame? Answer(InitiatorLoginNegotiator initiator, in LoginResponseFrame response)
    {
        var next = initiator.Process(response);
        if (next is { } r)
        {
            Assert.Null(initiator.FailureReason);
            Assert.False(initiator.IsComplete);
            AssertSendable(r.TextData, r.Continue);
        }
        else
        {
            Assert.True(initiator.IsComplete ^ initiator.FailureReason is not null,
                "a login that stops must have either completed or failed with a reason");
            if (initiator.IsComplete) Assert.NotNull(initiator.Result);
        }
        return next;
    }

    private static string Outcome(TargetLoginNegotiator target) =>
        target.IsComplete ? "target complete" : target.Failed ? $"target failed {target.FailureStatus!.Value.StatusClass:x2}{target.FailureStatus.Value.StatusDetail:x2}" : $"target open in {target.CurrentStage}";

    private static string Outcome(InitiatorLoginNegotiator initiator) =>
        initiator.IsComplete ? "initiator complete" : initiator.FailureReason is not null ? "initiator failed" : $"initiator open in {initiator.CurrentStage}";

    private static void TargetProperty(Conversation c)
    {
        var target = new TargetLoginNegotiator(Policy(c.Credentials, c.Iser, c.Segment));
        foreach (var s in c.Steps.TakeWhile(_ => !target.IsComplete && !target.Failed))
            Answer(target, new LoginRequestFrame(s.Transit, s.Continue, (LoginStage)s.Csg, (LoginStage)s.Nsg, s.VersionMax, s.VersionMin,
                0x23d000001, s.Tsih, 0, 0, s.Text), c.Segment);
        FuzzCampaign.Count(Outcome(target));
        // Once over, the negotiator says so rather than answering again.
        if (target.IsComplete || target.Failed)
            Assert.Throws<InvalidOperationException>(() => target.Process(new LoginRequestFrame(true, false, LoginStage.SecurityNegotiation,
                LoginStage.LoginOperationalNegotiation, 0, 0, 0, 0, 0, 0, ReadOnlyMemory<byte>.Empty)));
    }

    [Fact]
    public void TargetNegotiatorAnswersEveryRequest() =>
        FuzzCampaign.Run("login-target", GenConversation, TargetProperty, c => c.ToString());

    private static void InitiatorProperty(Conversation c)
    {
        var initiator = new InitiatorLoginNegotiator(Options(c.Credentials, c.Iser, c.Segment));
        initiator.FirstRequest();
        LoginRequestFrame? next = default(LoginRequestFrame);
        foreach (var s in c.Steps.TakeWhile(_ => next is not null))
            next = Answer(initiator, new LoginResponseFrame(s.Transit, s.Continue, (LoginStage)s.Csg, (LoginStage)s.Nsg, s.Status,
                s.VersionMax, s.VersionMin, s.Text));
        FuzzCampaign.Count(Outcome(initiator));
    }

    [Fact]
    public void InitiatorNegotiatorAnswersEveryResponse() =>
        FuzzCampaign.Run("login-initiator", GenConversation, InitiatorProperty, c => c.ToString());

    // ---- a real initiator and target with the fuzzer in the middle ----

    /// <summary>What the fuzzer does to one PDU passing through: nothing, or one kind of edit.</summary>
    internal sealed record Edit(int Kind, Mutation[] Bytes, TextKeyValue Pair, int Bits)
    {
        public const int None = 0, MutateText = 1, AddPair = 2, ReplaceValue = 3, Framing = 4, ReplaceText = 5;
        public override string ToString() => Kind switch
        {
            None => "-", MutateText => $"bytes({string.Join(",", Bytes)})", AddPair => $"add({Pair})", ReplaceValue => $"value#{Bits}({Pair.Value})",
            Framing => $"bits({Bits:x})", _ => $"text({Pair})",
        };

        public byte[] Text(ReadOnlySpan<byte> text)
        {
            var pairs = TextKeyValueCodec.TryParse(text, out var p, out _) ? p : [];
            return Kind switch
            {
                MutateText => Mutations.Apply(text.ToArray(), Bytes),
                AddPair => [.. text, .. KeyValueGen.Encode([Pair])],
                ReplaceValue when pairs.Count > 0 => KeyValueGen.Encode(pairs.Select((q, i) => i == Bits % pairs.Count ? q with { Value = Pair.Value } : q)),
                ReplaceText => KeyValueGen.Encode([Pair]),
                _ => text.ToArray(),
            };
        }
    }

    private static readonly Gen<Edit> GenEdit = Gen.Select(
        Gen.Frequency((6, Gen.Const(Edit.None)), (2, Gen.Const(Edit.MutateText)), (2, Gen.Const(Edit.AddPair)), (3, Gen.Const(Edit.ReplaceValue)),
            (1, Gen.Const(Edit.Framing)), (1, Gen.Const(Edit.ReplaceText))),
        Mutations.List(3), KeyValueGen.Pair, Gen.Int[0, 255], (k, m, p, b) => new Edit(k, m, p, b));

    internal sealed record Interception(int Credentials, bool Iser, int Segment, Edit[] Edits)
    {
        public override string ToString() => $"credentials={Credentials} iser={Iser} segment={Segment} edits={string.Join(" ", Edits.Select(e => e.ToString()))}";
    }

    private static readonly Gen<Interception> GenInterception =
        Gen.Select(Gen.Int[0, 2], Gen.Bool, Gen.OneOf(512, 8192), GenEdit.Array[1, 12], (c, i, s, e) => new Interception(c, i, s, e));

    private static LoginRequestFrame Edited(LoginRequestFrame r, Edit e) => e.Kind == Edit.Framing
        ? r with { Transit = (e.Bits & 1) != 0 ? !r.Transit : r.Transit, Continue = (e.Bits & 2) != 0 ? !r.Continue : r.Continue,
                   CurrentStage = (e.Bits & 4) != 0 ? (LoginStage)((e.Bits >> 4) & 3) : r.CurrentStage,
                   NextStage = (e.Bits & 8) != 0 ? (LoginStage)((e.Bits >> 6) & 3) : r.NextStage }
        : e.Kind == Edit.None ? r : r with { TextData = e.Text(r.TextData.Span) };

    private static LoginResponseFrame Edited(LoginResponseFrame r, Edit e) => e.Kind == Edit.Framing
        ? r with { Transit = (e.Bits & 1) != 0 ? !r.Transit : r.Transit, Continue = (e.Bits & 2) != 0 ? !r.Continue : r.Continue,
                   CurrentStage = (e.Bits & 4) != 0 ? (LoginStage)((e.Bits >> 4) & 3) : r.CurrentStage,
                   NextStage = (e.Bits & 8) != 0 ? (LoginStage)((e.Bits >> 6) & 3) : r.NextStage }
        : e.Kind == Edit.None ? r : r with { TextData = e.Text(r.TextData.Span) };

    private static void Intercept(Interception c, bool editRequests)
    {
        var initiator = new InitiatorLoginNegotiator(Options(c.Credentials, c.Iser, c.Segment));
        var target = new TargetLoginNegotiator(Policy(c.Credentials, c.Iser, c.Segment));
        LoginRequestFrame? request = initiator.FirstRequest();
        bool edited = false;
        for (int i = 0; request is { } r && !target.Failed && !target.IsComplete && i < 40; i++)
        {
            var edit = i < c.Edits.Length ? c.Edits[i] : new Edit(Edit.None, [], default, 0);
            edited |= edit.Kind != Edit.None;
            var response = Answer(target, editRequests ? Edited(r, edit) : r, c.Segment);
            request = Answer(initiator, editRequests ? response : Edited(response, edit));
        }
        FuzzCampaign.Count(Outcome(target));
        FuzzCampaign.Count(Outcome(initiator));
        // An untouched conversation is the round trip: both sides finish, and agree.
        if (!edited)
        {
            Assert.True(target.IsComplete && initiator.IsComplete, $"{Outcome(target)}, {Outcome(initiator)}: {target.FailureReason}{initiator.FailureReason}");
            Assert.Equal((initiator.Result.ErrorRecoveryLevel, initiator.Result.MaxConnections, initiator.Result.AuthMethod),
                (target.Result.ErrorRecoveryLevel, target.Result.MaxConnections, target.Result.AuthMethod));
        }
    }

    [Fact]
    public void TargetAnswersAnEditedInitiator() =>
        FuzzCampaign.Run("login-target-mitm", GenInterception, c => Intercept(c, editRequests: true), c => c.ToString());

    [Fact]
    public void InitiatorAnswersAnEditedTarget() =>
        FuzzCampaign.Run("login-initiator-mitm", GenInterception, c => Intercept(c, editRequests: false), c => c.ToString());

    // ---- regressions found by the campaigns above ----

    [Fact]
    public void TargetAliasFromTheInitiatorDoesNotDuplicateTheTargetsOwn()
    {
        // The target declared TargetAlias and also answered the initiator's TargetAlias with Reject: the key twice.
        var target = new TargetLoginNegotiator(LoginHarness.Policy());
        var text = "InitiatorName=iqn.2026-11.org.example:host1\0TargetName=iqn.2026-11.org.example:disk1\0TargetAlias=0b@@@@\0"u8.ToArray();
        var response = target.Process(new LoginRequestFrame(false, false, LoginStage.SecurityNegotiation, LoginStage.SecurityNegotiation,
            0, 0, 0x23d000001, 0, 0, 0, text));
        Assert.True(response.Status.IsSuccess, target.FailureReason);
        var keys = TextKeyValueCodec.Parse(response.TextData.Span).Select(p => p.Key).ToList();
        Assert.Single(keys, KeyNames.TargetAlias);
    }

    [Theory]
    [InlineData("TargetRecvDataSegmentLength=None,CHAP\0")]
    [InlineData("RDMAExtensions=Yes\0")]
    [InlineData("InitiatorRecvDataSegmentLength=8192\0")]
    public void IserKeysTheTargetRaisedFirstAreNotOfferedAgain(string responseText)
    {
        // The initiator answered the target's offer and then made its own offer of the same key in the same request.
        var initiator = new InitiatorLoginNegotiator(LoginHarness.Options(iser: true));
        initiator.FirstRequest();
        var next = initiator.Process(new LoginResponseFrame(true, false, LoginStage.SecurityNegotiation, LoginStage.LoginOperationalNegotiation,
            LoginStatus.Success, 0, 0, System.Text.Encoding.UTF8.GetBytes(responseText)));
        Assert.NotNull(next);
        Assert.True(TextKeyValueCodec.TryParse(next.Value.TextData.Span, out var pairs, out var error), error);
        Assert.Single(pairs, p => responseText.StartsWith(p.Key + "=", StringComparison.Ordinal));
    }
    [Fact]
    public void HexNumbersInTheTargetsAnswersAreNumbers()
    {
        // The target answered MaxBurstLength with a hex-constant; building the session then threw FormatException.
        var initiator = new InitiatorLoginNegotiator(LoginHarness.Options());
        initiator.FirstRequest();
        var operational = initiator.Process(new LoginResponseFrame(true, false, LoginStage.SecurityNegotiation, LoginStage.LoginOperationalNegotiation,
            LoginStatus.Success, 0, 0, "AuthMethod=None\0TargetPortalGroupTag=1\0"u8.ToArray()));
        Assert.NotNull(operational);
        var done = initiator.Process(new LoginResponseFrame(true, false, LoginStage.LoginOperationalNegotiation, LoginStage.FullFeaturePhase,
            LoginStatus.Success, 0, 0, "MaxBurstLength=0x8000\0"u8.ToArray()));
        Assert.Null(done);
        Assert.True(initiator.IsComplete, initiator.FailureReason);
        Assert.Equal(0x8000, initiator.Result.Connection.MaxBurstLength);
    }
}
