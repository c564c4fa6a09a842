using Iser.Core.Iscsi.Login;
using Iser.Core.Iscsi.Text;
using static Iser.Tests.Login.LoginHarness;

namespace Iser.Tests.Login;

public class ChapTests
{
    // Expected digests computed outside .NET: python3 hashlib.md5(bytes([id]) + secret + challenge).hexdigest()
    private const string Vector1Response = "9076678d0d419918496fd7bcab71ecca"; // id 0x2a, "abcdefghijkl12", bytes 0x10..0x1f
    private const string Vector2Response = "29152aa6fa20f6d51eb1451c18c88dd1"; // id 7, "targetsecret99", bytes 0xa0..0xb0
    private static readonly byte[] Challenge1 = Enumerable.Range(0x10, 16).Select(i => (byte)i).ToArray();
    private static readonly byte[] Challenge2 = Enumerable.Range(0xa0, 17).Select(i => (byte)i).ToArray();

    [Fact]
    public void Response_is_md5_of_identifier_secret_challenge()
    {
        var response = ChapAuthenticator.ComputeResponse(0x2a, "abcdefghijkl12", Challenge1);
        Assert.Equal(Vector1Response, Convert.ToHexStringLower(response));
    }

    [Theory]
    [InlineData("0x0102ff", new byte[] { 1, 2, 255 })]
    [InlineData("0X102ff", new byte[] { 1, 2, 255 })] // odd digit count: implied leading zero
    [InlineData("0bAQL/", new byte[] { 1, 2, 255 })]
    public void Binary_values_decode_from_hex_and_base64(string text, byte[] expected)
    {
        Assert.True(BinaryValue.TryDecode(text, out var bytes));
        Assert.Equal(expected, bytes);
    }

    [Theory]
    [InlineData("0102")]
    [InlineData("0xzz")]
    [InlineData("0b***")]
    [InlineData("0x")]
    public void Malformed_binary_values_are_refused(string text) => Assert.False(BinaryValue.TryDecode(text, out _));

    [Fact]
    public void Weak_secrets_are_flagged_below_12_bytes()
    {
        Assert.True(ChapAuthenticator.IsWeakSecret("elevenbytes"));
        Assert.False(ChapAuthenticator.IsWeakSecret("twelve bytes"));
    }

    private static TargetLoginNegotiator TargetAwaitingChapResponse(ChapCredentials? targetCredentials = null)
    {
        var target = new TargetLoginNegotiator(Policy(initiatorChap: new ChapCredentials("alice", "abcdefghijkl12"), targetChap: targetCredentials))
        {
            ChapChallengeOverride = Challenge1,
            ChapIdentifierOverride = 0x2a,
        };
        var first = target.Process(Request(LoginStage.SecurityNegotiation, true, LoginStage.LoginOperationalNegotiation,
            $"InitiatorName={InitiatorIqn}", $"TargetName={TargetIqn}", "AuthMethod=CHAP,None"));
        Assert.Equal("CHAP", Keys(first.TextData)["AuthMethod"]);
        Assert.False(first.Transit); // not authenticated yet: the target must not leave the security stage
        var challenge = target.Process(Request(LoginStage.SecurityNegotiation, false, 0, "CHAP_A=5"));
        var keys = Keys(challenge.TextData);
        Assert.Equal("5", keys["CHAP_A"]);
        Assert.Equal("42", keys["CHAP_I"]);
        Assert.Equal("0x" + Convert.ToHexStringLower(Challenge1), keys["CHAP_C"]);
        return target;
    }

    [Theory]
    [InlineData("0x" + Vector1Response)]
    [InlineData("0bkHZnjQ1BmRhJb9e8q3Hsyg==")]
    public void Target_accepts_the_correct_response_in_hex_or_base64(string chapR)
    {
        Assert.Equal("0bkHZnjQ1BmRhJb9e8q3Hsyg==", BinaryValue.EncodeBase64(Convert.FromHexString(Vector1Response)));
        var target = TargetAwaitingChapResponse();
        var response = target.Process(Request(LoginStage.SecurityNegotiation, true, LoginStage.LoginOperationalNegotiation,
            "CHAP_N=alice", $"CHAP_R={chapR}"));
        Assert.True(response.Status.IsSuccess);
        Assert.True(response.Transit);
        Assert.Equal(LoginStage.LoginOperationalNegotiation, response.NextStage);
    }

    [Fact]
    public void Target_refuses_a_wrong_response_with_0x0201()
    {
        var target = TargetAwaitingChapResponse();
        var response = target.Process(Request(LoginStage.SecurityNegotiation, true, LoginStage.LoginOperationalNegotiation,
            "CHAP_N=alice", "CHAP_R=0x" + Vector2Response));
        Assert.Equal(LoginStatus.AuthenticationFailed, response.Status);
        Assert.True(target.Failed);
        Assert.Contains("does not match", target.FailureReason);
    }

    [Fact]
    public void Target_refuses_an_unknown_user_name()
    {
        var target = TargetAwaitingChapResponse();
        var response = target.Process(Request(LoginStage.SecurityNegotiation, true, LoginStage.LoginOperationalNegotiation,
            "CHAP_N=mallory", "CHAP_R=0x" + Vector1Response));
        Assert.Equal(LoginStatus.AuthenticationFailed, response.Status);
        Assert.Contains("mallory", target.FailureReason);
    }

    [Fact]
    public void Target_answers_a_mutual_challenge_with_md5_of_its_own_secret()
    {
        var target = TargetAwaitingChapResponse(new ChapCredentials("disk1", "targetsecret99"));
        var response = target.Process(Request(LoginStage.SecurityNegotiation, true, LoginStage.LoginOperationalNegotiation,
            "CHAP_N=alice", "CHAP_R=0x" + Vector1Response, "CHAP_I=7", "CHAP_C=0x" + Convert.ToHexStringLower(Challenge2)));
        Assert.True(response.Status.IsSuccess);
        var keys = Keys(response.TextData);
        Assert.Equal("disk1", keys["CHAP_N"]);
        Assert.Equal("0x" + Vector2Response, keys["CHAP_R"]);
    }

    [Fact]
    public void Target_refuses_a_reflected_challenge()
    {
        var target = TargetAwaitingChapResponse(new ChapCredentials("disk1", "targetsecret99"));
        var response = target.Process(Request(LoginStage.SecurityNegotiation, true, LoginStage.LoginOperationalNegotiation,
            "CHAP_N=alice", "CHAP_R=0x" + Vector1Response, "CHAP_I=42", "CHAP_C=0x" + Convert.ToHexStringLower(Challenge1)));
        Assert.Equal(LoginStatus.AuthenticationFailed, response.Status);
        Assert.Contains("reflection", target.FailureReason);
    }

    [Fact]
    public void Target_refuses_mutual_chap_when_it_has_no_credentials_of_its_own()
    {
        var target = TargetAwaitingChapResponse();
        var response = target.Process(Request(LoginStage.SecurityNegotiation, true, LoginStage.LoginOperationalNegotiation,
            "CHAP_N=alice", "CHAP_R=0x" + Vector1Response, "CHAP_I=7", "CHAP_C=0x" + Convert.ToHexStringLower(Challenge2)));
        Assert.Equal(LoginStatus.AuthenticationFailed, response.Status);
        Assert.Contains("no target CHAP credentials", target.FailureReason);
    }

    // python3: hashlib.<algorithm>(bytes([0x2a]) + b"abcdefghijkl12" + bytes(range(0x10, 0x30))).hexdigest()
    [Theory]
    [InlineData(ChapAlgorithm.Sha1, "ec75381210db1c128de9967c7ed0b94f90f7205c")]
    [InlineData(ChapAlgorithm.Sha256, "c6779d6f8f100b85a0086daaadc0a8de2274e403a8be1db9bafbf85591181347")]
    public void Responses_under_the_sha_algorithms_hash_identifier_secret_challenge(ChapAlgorithm algorithm, string expected)
    {
        var challenge = Enumerable.Range(0x10, 32).Select(i => (byte)i).ToArray();
        Assert.Equal(expected, Convert.ToHexStringLower(ChapAuthenticator.ComputeResponse(algorithm, 0x2a, "abcdefghijkl12", challenge)));
    }

    [Sha3Fact]
    public void Responses_under_sha3_256_hash_identifier_secret_challenge()
    {
        var challenge = Enumerable.Range(0x10, 32).Select(i => (byte)i).ToArray();
        Assert.Equal("2142792cf918f64cd819a6cd9732590bd274c3e5eb69d8de3f2c0b97a11dd2ea",
            Convert.ToHexStringLower(ChapAuthenticator.ComputeResponse(ChapAlgorithm.Sha3_256, 0x2a, "abcdefghijkl12", challenge)));
    }

    private sealed class Sha3FactAttribute : FactAttribute
    {
        public Sha3FactAttribute()
        {
            if (!System.Security.Cryptography.SHA3_256.IsSupported) Skip = "SHA3-256 is not in this machine's crypto library (OpenSSL 1.1.1 or later has it)";
        }
    }

    [Fact]
    public void Target_takes_the_first_algorithm_of_the_initiators_list_that_it_accepts_with_a_challenge_as_long_as_the_digest()
    {
        var target = new TargetLoginNegotiator(Policy(initiatorChap: new ChapCredentials("alice", "abcdefghijkl12"),
            chapAlgorithms: [ChapAlgorithm.Md5, ChapAlgorithm.Sha256]));
        target.Process(Request(LoginStage.SecurityNegotiation, true, LoginStage.LoginOperationalNegotiation,
            $"InitiatorName={InitiatorIqn}", $"TargetName={TargetIqn}", "AuthMethod=CHAP"));
        var keys = Keys(target.Process(Request(LoginStage.SecurityNegotiation, false, 0, "CHAP_A=99,6,7,5")).TextData);
        Assert.Equal("7", keys["CHAP_A"]); // 99 unknown, 6 not accepted here
        Assert.True(BinaryValue.TryDecode(keys["CHAP_C"], out var challenge));
        Assert.Equal(32, challenge.Length);
    }

    [Fact]
    public void A_target_configured_without_md5_refuses_an_initiator_offering_only_md5()
    {
        var target = new TargetLoginNegotiator(Policy(initiatorChap: new ChapCredentials("alice", "abcdefghijkl12"),
            chapAlgorithms: [ChapAlgorithm.Sha256]));
        target.Process(Request(LoginStage.SecurityNegotiation, true, LoginStage.LoginOperationalNegotiation,
            $"InitiatorName={InitiatorIqn}", $"TargetName={TargetIqn}", "AuthMethod=CHAP"));
        var response = target.Process(Request(LoginStage.SecurityNegotiation, false, 0, "CHAP_A=5"));
        Assert.Equal(LoginStatus.AuthenticationFailed, response.Status);
        Assert.Contains("accepts only sha256 (7)", target.FailureReason);
    }

    [Fact]
    public void Target_refuses_a_list_of_algorithms_it_does_not_know()
    {
        var target = new TargetLoginNegotiator(Policy(initiatorChap: new ChapCredentials("alice", "abcdefghijkl12")));
        target.Process(Request(LoginStage.SecurityNegotiation, true, LoginStage.LoginOperationalNegotiation,
            $"InitiatorName={InitiatorIqn}", $"TargetName={TargetIqn}", "AuthMethod=CHAP"));
        var response = target.Process(Request(LoginStage.SecurityNegotiation, false, 0, "CHAP_A=3,x,129"));
        Assert.Equal(LoginStatus.AuthenticationFailed, response.Status);
        Assert.Contains("CHAP_A=3,x,129", target.FailureReason);
    }

    [Fact]
    public void Target_refuses_a_mutual_challenge_shorter_than_16_bytes()
    {
        var target = TargetAwaitingChapResponse(new ChapCredentials("disk1", "targetsecret99"));
        var response = target.Process(Request(LoginStage.SecurityNegotiation, true, LoginStage.LoginOperationalNegotiation,
            "CHAP_N=alice", "CHAP_R=0x" + Vector1Response, "CHAP_I=7", "CHAP_C=0x" + Convert.ToHexStringLower(Challenge2[..15])));
        Assert.Equal(LoginStatus.AuthenticationFailed, response.Status);
        Assert.Contains("15 bytes; at least 16", target.FailureReason);
    }

    [Fact]
    public void Initiator_refuses_a_target_challenge_shorter_than_16_bytes_or_an_algorithm_it_did_not_offer()
    {
        var shortOne = new ChapInitiatorExchange(new ChapCredentials("alice", "abcdefghijkl12"), null);
        Assert.Contains("at least 16", shortOne.OnChallenge("5", "1", "0x" + Convert.ToHexStringLower(Challenge1[..8]), []));
        var md5Only = new ChapInitiatorExchange(new ChapCredentials("alice", "abcdefghijkl12"), null, [ChapAlgorithm.Md5]);
        Assert.Equal("5", md5Only.OfferedAlgorithms);
        Assert.Contains("only 5 was offered", md5Only.OnChallenge("7", "1", "0x" + Convert.ToHexStringLower(Challenge1), []));
    }

    [Theory]
    [InlineData("sha256,md5", new[] { ChapAlgorithm.Sha256, ChapAlgorithm.Md5 })]
    [InlineData("7, 5 ,7", new[] { ChapAlgorithm.Sha256, ChapAlgorithm.Md5 })]
    [InlineData("SHA1", new[] { ChapAlgorithm.Sha1 })]
    public void Algorithm_lists_parse_from_names_or_numbers(string text, ChapAlgorithm[] expected) =>
        Assert.Equal(expected, ChapAlgorithms.Parse(text));

    [Theory]
    [InlineData("sha512", "not a CHAP algorithm")]
    [InlineData(" , ", "is empty")]
    public void Bad_algorithm_lists_are_refused_in_words(string text, string words) =>
        Assert.Contains(words, Assert.Throws<FormatException>(() => ChapAlgorithms.Parse(text)).Message);

    [Fact]
    public void Initiator_exchange_computes_the_response_and_checks_the_target()
    {
        var exchange = new ChapInitiatorExchange(new ChapCredentials("alice", "abcdefghijkl12"), new ChapCredentials("disk1", "targetsecret99"));
        var reply = new List<TextKeyValue>();
        Assert.Null(exchange.OnChallenge("5", "42", "0x" + Convert.ToHexStringLower(Challenge1), reply));
        var keys = reply.ToDictionary(p => p.Key, p => p.Value);
        Assert.Equal("alice", keys["CHAP_N"]);
        Assert.Equal("0x" + Vector1Response, keys["CHAP_R"]);
        Assert.True(BinaryValue.TryDecode(keys["CHAP_C"], out var mutualChallenge));
        Assert.True(mutualChallenge.Length >= 16);
        Assert.NotEqual(Challenge1, mutualChallenge);
        Assert.False(exchange.Complete);

        var id = byte.Parse(keys["CHAP_I"]);
        var wrong = exchange.OnTargetResponse("disk1", "0x" + Vector2Response);
        Assert.Contains("does not match", wrong);
        var right = ChapAuthenticator.ComputeResponse(id, "targetsecret99", mutualChallenge);
        Assert.Null(exchange.OnTargetResponse("disk1", BinaryValue.EncodeHex(right)));
        Assert.True(exchange.Complete);
    }

    [Fact]
    public void Random_challenges_are_16_bytes_and_differ()
    {
        var a = ChapAuthenticator.NewChallenge();
        var b = ChapAuthenticator.NewChallenge();
        Assert.Equal(16, a.Length);
        Assert.NotEqual(a, b);
    }
}
