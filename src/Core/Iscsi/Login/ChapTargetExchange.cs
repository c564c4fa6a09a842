using System.Security.Cryptography;
using Iser.Core.Iscsi.Text;

namespace Iser.Core.Iscsi.Login;

/// <summary>
/// The target's side of a CHAP exchange: answer CHAP_A with 5 plus CHAP_I/CHAP_C, then check the initiator's
/// CHAP_N/CHAP_R and, for mutual CHAP, answer the initiator's CHAP_I/CHAP_C with our CHAP_N/CHAP_R.
/// Every failure is a sentence; the negotiator turns it into status 0x0201.
/// </summary>
public sealed class ChapTargetExchange
{
    private readonly ChapCredentials _initiatorCredentials;
    private readonly ChapCredentials? _targetCredentials;
    private byte _identifier;
    private byte[] _challenge = Array.Empty<byte>();

    public ChapTargetExchange(ChapCredentials initiatorCredentials, ChapCredentials? targetCredentials)
    {
        _initiatorCredentials = initiatorCredentials;
        _targetCredentials = targetCredentials;
    }

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
        if (Array.IndexOf(offered.Split(','), ChapAuthenticator.Md5Algorithm) < 0)
            return $"The initiator offered CHAP_A={offered}, without MD5 (5), the only algorithm this target supports.";
        _identifier = identifierForTest ?? ChapAuthenticator.NewIdentifier();
        _challenge = challengeForTest ?? ChapAuthenticator.NewChallenge();
        reply.Add(new TextKeyValue(KeyNames.ChapAlgorithm, ChapAuthenticator.Md5Algorithm));
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
        var expected = ChapAuthenticator.ComputeResponse(_identifier, _initiatorCredentials.Secret, _challenge);
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
            // A reflected challenge would let an attacker make us compute the answer to our own question.
            if (challenge.AsSpan().SequenceEqual(_challenge))
                return "The initiator's mutual CHAP challenge repeats the target's challenge (a reflection attack); refused.";
            reply.Add(new TextKeyValue(KeyNames.ChapName, _targetCredentials.UserName));
            reply.Add(new TextKeyValue(KeyNames.ChapResponse,
                BinaryValue.EncodeHex(ChapAuthenticator.ComputeResponse(id, _targetCredentials.Secret, challenge))));
            MutualPerformed = true;
        }
        Authenticated = true;
        return null;
    }
}
