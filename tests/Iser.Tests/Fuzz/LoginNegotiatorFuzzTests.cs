using CsCheck;
using Iser.Core.Iscsi.Login;
using Iser.Core.Iscsi.Text;
using Iser.Tests.Login;

namespace Iser.Tests.Fuzz;

/// <summary>
/// Both login negotiators fed arbitrary login PDUs: random stage bits, versions, TSIH, C and T bits, and text that is
/// valid key=value pairs, mutated pairs or random bytes. Each negotiator must answer every PDU without an exception;
/// a refusal is a Login Response with a failure status and a reason (target) or a FailureReason and no next request
/// (initiator); text it sends parses.
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

    private static void TargetProperty(Conversation c)
    {
        var policy = LoginHarness.Policy(
            initiatorChap: c.Credentials >= 1 ? InitiatorChap : null, targetChap: c.Credentials == 2 ? TargetChap : null,
            iser: c.Iser, loginSegment: c.Segment);
        var target = new TargetLoginNegotiator(policy);
        foreach (var s in c.Steps.TakeWhile(_ => !target.IsComplete && !target.Failed))
        {
            var request = new LoginRequestFrame(s.Transit, s.Continue, (LoginStage)s.Csg, (LoginStage)s.Nsg, s.VersionMax, s.VersionMin,
                0x23d000001, s.Tsih, 0, 0, s.Text);
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
                Assert.InRange(response.TextData.Length, 0, c.Segment);
            }
            if (target.IsComplete) Assert.NotNull(target.Result);
        }
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
        var options = LoginHarness.Options(
            chap: c.Credentials >= 1 ? InitiatorChap : null, mutual: c.Credentials == 2 ? TargetChap : null, iser: c.Iser);
        var initiator = new InitiatorLoginNegotiator(options);
        var request = initiator.FirstRequest();
        LoginRequestFrame? next = request;
        foreach (var s in c.Steps)
        {
            if (next is null) break;
            var response = new LoginResponseFrame(s.Transit, s.Continue, (LoginStage)s.Csg, (LoginStage)s.Nsg, s.Status,
                s.VersionMax, s.VersionMin, s.Text);
            next = initiator.Process(response);
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
        }
    }

    [Fact]
    public void InitiatorNegotiatorAnswersEveryResponse() =>
        FuzzCampaign.Run("login-initiator", GenConversation, InitiatorProperty, c => c.ToString());
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
}
