using System.Security.Cryptography;
using Iser.Core.Iscsi.Text;

namespace Iser.Core.Iscsi.Login;

/// <summary>
/// The target's side of a CHAP exchange: answer CHAP_A with the first algorithm of the initiator's list that this
/// target allows, plus CHAP_I/CHAP_C, then check the initiator's
/// CHAP_N/CHAP_R and, for mutual CHAP, answer the initiator's CHAP_I/CHAP_C with our CHAP_N/CHAP_R.
/// Every failure is a sentence; the negotiator turns it into status 0x0201.
/// </summary>
public sealed class ChapTargetExchange
{
    private readonly ChapCredentials _initiatorCredentials;
    private readonly ChapCredentials? _targetCredentials;
    private readonly IReadOnlyList<ChapAlgorithm> _allowed;
    private byte _identifier;
    private byte[] _challenge = Array.Empty<byte>();

    /// <param name="allowed">The algorithms this target accepts (null: every one supported here); leaving MD5 out refuses it.</param>
    public ChapTargetExchange(ChapCredentials initiatorCredentials, ChapCredentials? targetCredentials, IReadOnlyList<ChapAlgorithm>? allowed = null)
    {
        _initiatorCredentials = initiatorCredentials;
        _targetCredentials = targetCredentials;
        _allowed = allowed ?? ChapAlgorithms.Supported;
    }

    /// <summary>The algorithm chosen from the initiator's CHAP_A list.</summary>
    public ChapAlgorithm Algorithm { get; private set; } = ChapAlgorithm.Md5;

    public bool ChallengeSent { get; private set; }
    public bool Authenticated { get; private set; }
    public bool MutualPerformed { get; private set; }

    /// <summary>The challenge we sent (tests and logs).</summary>
    public ReadOnlyMemory<byte> Challenge => _challenge;
    public byte Identifier => _identifier;

    /// <summary>Answers the initiator's CHAP_A list. Adds CHAP_A, CHAP_I, CHAP_C to <paramref name="reply"/>, or returns the reason for failing.</summary>
    public string? OnAlgorithms(string offered, List<TextKeyValue> reply, byte[]? challengeForTest = null, byte? identifierForTest = null)
    {
        if (ChallengeSent)
            return "The initiator sent CHAP_A twice.";
        // The initiator lists in its order of preference: the first one this target allows is taken.
        ChapAlgorithm? chosen = null;
        foreach (var value in offered.Split(','))
        {
            if (ChapAlgorithms.TryFromWire(value, out var algorithm) && _allowed.Contains(algorithm))
            {
                chosen = algorithm;
                break;
            }
        }
        if (chosen is not { } picked)
            return $"The initiator offered CHAP_A={offered}; this target accepts only {string.Join(", ", _allowed.Select(a => $"{ChapAlgorithms.Name(a)} ({(int)a})"))}.";
        Algorithm = picked;
        _identifier = identifierForTest ?? ChapAuthenticator.NewIdentifier();
        _challenge = challengeForTest ?? ChapAuthenticator.NewChallenge(ChapAlgorithms.ChallengeLength(picked));
        reply.Add(new TextKeyValue(KeyNames.ChapAlgorithm, ChapAlgorithms.Wire(picked)));
        reply.Add(new TextKeyValue(KeyNames.ChapIdentifier, OperationalLimits.Num(_identifier)));
        reply.Add(new TextKeyValue(KeyNames.ChapChallenge, BinaryValue.EncodeHex(_challenge)));
        ChallengeSent = true;
        return null;
    }

    /// <summary>
    /// Checks CHAP_N/CHAP_R and handles an optional mutual challenge (CHAP_I/CHAP_C). On success adds our
    /// CHAP_N/CHAP_R (mutual) to <paramref name="reply"/> and returns null; otherwise the reason.
    /// </summary>
    public string? OnResponse(string? name, string? response, string? mutualIdentifier, string? mutualChallenge, List<TextKeyValue> reply)
    {
        if (!ChallengeSent)
            return "The initiator sent a CHAP response before the target sent its challenge.";
        if (Authenticated)
            return "The initiator sent a second CHAP response.";
        if (name is null || response is null)
            return "The initiator's CHAP answer lacks CHAP_N or CHAP_R.";
        if (name != _initiatorCredentials.UserName)
            return $"The CHAP user name \"{name}\" is not the one configured for this initiator.";
        if (!ChapAuthenticator.TryDecodeBinary(response, 1024, out var received))
            return "The initiator's CHAP_R is not a valid hex or base64 value.";
        var expected = ChapAuthenticator.ComputeResponse(Algorithm, _identifier, _initiatorCredentials.Secret, _challenge);
        if (!CryptographicOperations.FixedTimeEquals(expected, received))
            return $"The CHAP response for user \"{name}\" does not match the configured secret.";

        if (mutualIdentifier is null != mutualChallenge is null)
            return "The initiator asked for mutual CHAP with only one of CHAP_I and CHAP_C.";
        if (mutualChallenge is not null)
        {
            if (_targetCredentials is null)
                return "The initiator asked for mutual CHAP but no target CHAP credentials are configured.";
            if (_targetCredentials.Secret == _initiatorCredentials.Secret)
                return "Mutual CHAP refused: the target secret equals the initiator secret, which RFC 7143 forbids.";
            if (!ChapAuthenticator.TryParseIdentifier(mutualIdentifier, out byte id))
                return $"The initiator's CHAP_I \"{mutualIdentifier}\" is not a number from 0 to 255.";
            if (!ChapAuthenticator.TryDecodeBinary(mutualChallenge, 1024, out var challenge))
                return "The initiator's CHAP_C is not a valid hex or base64 value of at most 1024 bytes.";
            // A short challenge lets an eavesdropper collect answers to replay; RFC 7143 asks for at least the hash's length.
            if (challenge.Length < ChapAuthenticator.ChallengeLength)
                return $"The initiator's mutual CHAP challenge has {challenge.Length} bytes; at least {ChapAuthenticator.ChallengeLength} are required.";
            // A reflected challenge would let an attacker make us compute the answer to our own question.
            if (challenge.AsSpan().SequenceEqual(_challenge))
                return "The initiator's mutual CHAP challenge repeats the target's challenge (a reflection attack); refused.";
            reply.Add(new TextKeyValue(KeyNames.ChapName, _targetCredentials.UserName));
            reply.Add(new TextKeyValue(KeyNames.ChapResponse,
                BinaryValue.EncodeHex(ChapAuthenticator.ComputeResponse(Algorithm, id, _targetCredentials.Secret, challenge))));
            MutualPerformed = true;
        }
        Authenticated = true;
        return null;
    }
}
