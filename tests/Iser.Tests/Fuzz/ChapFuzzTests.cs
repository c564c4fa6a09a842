using System.Text;
using CsCheck;
using Iser.Core.Iscsi.Login;
using Iser.Core.Iscsi.Text;

namespace Iser.Tests.Fuzz;

/// <summary>
/// Both sides of CHAP (RFC 7143 §12.1.3) fed arbitrary CHAP_A/I/C/N/R values: each call returns null or a reason in
/// words, never throws; what it adds to the reply encodes; the correct answer authenticates and any other does not.
/// </summary>
[Trait("Category", "Fuzz")]
public sealed class ChapFuzzTests
{
    private static readonly ChapCredentials Initiator = new("initiator-user", "initiator-secret-1");
    private static readonly ChapCredentials Target = new("target-user", "target-secret-22");

    /// <summary>Where a value comes from: the right one computed at run time, a mutation of it, or anything.</summary>
    internal sealed record Value(int Kind, string Any, Mutation[] Edits)
    {
        public const int Correct = 0, Mutated = 1, Arbitrary = 2, Missing = 3;

        public string? Resolve(string correct) => Kind switch
        {
            Correct => correct,
            Mutated => Encoding.Latin1.GetString(Mutations.Apply(Encoding.Latin1.GetBytes(correct), Edits)),
            Missing => null,
            _ => Any,
        };

        public override string ToString() => Kind switch { Correct => "correct", Mutated => $"mutated({string.Join(",", Edits)})", Missing => "missing", _ => $"\"{Any}\"" };
    }

    private static readonly Gen<string> Arbitrary = Gen.Frequency(
        (6, KeyValueGen.Value),
        (1, Gen.Byte.Array[0, 1100].Select(b => BinaryValue.EncodeHex(b))),
        (1, Gen.Byte.Array[0, 1100].Select(b => BinaryValue.EncodeBase64(b))));

    private static readonly Gen<Value> GenValue = Gen.Select(
        Gen.Frequency((8, Gen.Const(Value.Correct)), (3, Gen.Const(Value.Mutated)), (3, Gen.Const(Value.Arbitrary)), (1, Gen.Const(Value.Missing))),
        Arbitrary, Mutations.List(3), (k, a, e) => new Value(k, a, e));

    internal sealed record TargetCase(bool Mutual, Value Algorithms, Value Name, Value Response, Value MutualId, Value MutualChallenge, byte Id, byte[] Challenge)
    {
        public override string ToString() =>
            $"mutual={Mutual} A={Algorithms} N={Name} R={Response} I={MutualId} C={MutualChallenge} id={Id} challenge={FuzzCampaign.Hex(Challenge)}";
    }

    private static readonly Gen<TargetCase> GenTargetCase =
        Gen.Select(Gen.Bool, GenValue, GenValue, GenValue, GenValue, GenValue, Gen.Byte, Gen.Byte.Array[16])
            .Select(t => new TargetCase(t.Item1, t.Item2, t.Item3, t.Item4, t.Item5, t.Item6, t.Item7, t.Item8));

    private static void AssertReplyEncodes(List<TextKeyValue> reply) => Assert.NotEmpty(TextKeyValueCodec.Encode(reply));

    private static void TargetProperty(TargetCase c)
    {
        var exchange = new ChapTargetExchange(Initiator, c.Mutual ? Target : null);
        var reply = new List<TextKeyValue>();
        string? refused = exchange.OnAlgorithms(c.Algorithms.Resolve("5") ?? "", reply, c.Challenge, c.Id);
        Assert.Equal(refused is null, exchange.ChallengeSent);
        if (refused is null) AssertReplyEncodes(reply);
        else Assert.False(string.IsNullOrWhiteSpace(refused));

        // The right answer under the algorithm the exchange chose (a mutated CHAP_A may name SHA-256 or SHA3-256).
        string correctR = BinaryValue.EncodeHex(ChapAuthenticator.ComputeResponse(exchange.Algorithm, c.Id, Initiator.Secret, c.Challenge));
        string? name = c.Name.Resolve(Initiator.UserName), response = c.Response.Resolve(correctR);
        string? mutualId = c.MutualId.Resolve("7"), mutualChallenge = c.MutualChallenge.Resolve("0x00112233445566778899aabbccddeeff");
        reply.Clear();
        string? reason = exchange.OnResponse(name, response, mutualId, mutualChallenge, reply);
        if (reason is null)
        {
            Assert.True(exchange.Authenticated);
            Assert.Equal(Initiator.UserName, name);
            // Authentication needs the exact response: the bytes decoded must be the digest we expect.
            Assert.True(BinaryValue.TryDecode(response!, out var got));
            Assert.Equal(ChapAuthenticator.ComputeResponse(exchange.Algorithm, c.Id, Initiator.Secret, c.Challenge), got);
            Assert.Equal(mutualChallenge is not null, exchange.MutualPerformed);
            AssertReplyEncodes(reply.Count > 0 ? reply : [new TextKeyValue("X-none", "")]);
        }
        else
        {
            Assert.False(exchange.Authenticated);
            Assert.False(string.IsNullOrWhiteSpace(reason));
        }
        FuzzCampaign.Count(reason is null ? exchange.MutualPerformed ? "authenticated, mutual" : "authenticated" : "refused");
        if (refused is null && name == Initiator.UserName && response == correctR && mutualId is null && mutualChallenge is null)
            Assert.Null(reason); // the right answer, without mutual CHAP, always authenticates
    }

    /// <summary>
    /// Found by the ten-million campaign (seed 5N74i-2Qy312): a mutated CHAP_A that names SHA-256 with mutual CHAP and no
    /// CHAP_I/CHAP_C. The exchange was right; the property computed the "right" answer with MD5 whatever was chosen.
    /// </summary>
    [Theory]
    [InlineData("7", true)]
    [InlineData("8", false)]
    public void The_right_answer_under_a_non_md5_algorithm_authenticates(string algorithm, bool mutual)
    {
        var none = Array.Empty<Mutation>();
        TargetProperty(new TargetCase(mutual, new Value(Value.Arbitrary, algorithm, none), new Value(Value.Correct, "", none),
            new Value(Value.Correct, "", none), new Value(Value.Missing, "", none), new Value(Value.Missing, "", none),
            1, Convert.FromHexString("EF594725BABC55C6481B5610FAF008D3")));
    }

    [Fact]
    public void TargetSideAcceptsOnlyTheRightAnswer() =>
        FuzzCampaign.Run("chap-target", GenTargetCase, TargetProperty, c => c.ToString());

    internal sealed record InitiatorCase(bool Mutual, Value Algorithm, Value Id, Value Challenge, Value Name, Value Response)
    {
        public override string ToString() => $"mutual={Mutual} A={Algorithm} I={Id} C={Challenge} N={Name} R={Response}";
    }

    private static readonly Gen<InitiatorCase> GenInitiatorCase =
        Gen.Select(Gen.Bool, GenValue, GenValue, GenValue, GenValue, GenValue, (m, a, i, ch, n, r) => new InitiatorCase(m, a, i, ch, n, r));

    private static void InitiatorProperty(InitiatorCase c)
    {
        var exchange = new ChapInitiatorExchange(Initiator, c.Mutual ? Target : null);
        var reply = new List<TextKeyValue>();
        string? reason = exchange.OnChallenge(c.Algorithm.Resolve("5"), c.Id.Resolve("17"), c.Challenge.Resolve("0x" + new string('a', 32)), reply);
        Assert.Equal(reason is null, exchange.ResponseSent);
        if (reason is null) AssertReplyEncodes(reply);
        else Assert.False(string.IsNullOrWhiteSpace(reason));

        // The target's answer to our mutual challenge: the right one is computed from what we sent.
        var sent = reply.ToDictionary(p => p.Key, p => p.Value);
        string correctR = sent.TryGetValue(KeyNames.ChapChallenge, out var ourC) && BinaryValue.TryDecode(ourC, out var ourChallenge)
            && sent.TryGetValue(KeyNames.ChapIdentifier, out var ourI)
            ? BinaryValue.EncodeHex(ChapAuthenticator.ComputeResponse(exchange.Algorithm, byte.Parse(ourI), Target.Secret, ourChallenge))
            : "0x00";
        string? name = c.Name.Resolve(Target.UserName), response = c.Response.Resolve(correctR);
        string? mutualReason = exchange.OnTargetResponse(name, response);
        if (mutualReason is null)
        {
            Assert.True(c.Mutual && reason is null, "a target response was accepted without a mutual challenge outstanding");
            Assert.True(exchange.Complete);
            Assert.Equal(Target.UserName, name);
        }
        else
        {
            Assert.False(string.IsNullOrWhiteSpace(mutualReason));
        }
        FuzzCampaign.Count(mutualReason is null ? "target proved" : reason is null ? "challenge answered" : "challenge refused");
        if (c.Mutual && reason is null && name == Target.UserName && response == correctR)
            Assert.Null(mutualReason); // the right answer always proves the target
    }

    [Fact]
    public void InitiatorSideAcceptsOnlyTheRightAnswer() =>
        FuzzCampaign.Run("chap-initiator", GenInitiatorCase, InitiatorProperty, c => c.ToString());
}
