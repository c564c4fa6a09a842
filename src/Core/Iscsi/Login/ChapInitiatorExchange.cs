using System.Security.Cryptography;
using Iser.Core.Iscsi.Text;

namespace Iser.Core.Iscsi.Login;

/// <summary>
/// The initiator's side of a CHAP exchange: offer CHAP_A (the configured algorithms, preferred first), answer the target's challenge with CHAP_N/CHAP_R, and for
/// mutual CHAP send our own CHAP_I/CHAP_C and check the target's answer.
/// </summary>
public sealed class ChapInitiatorExchange
{
    private readonly ChapCredentials _credentials;
    private readonly ChapCredentials? _mutual;
    private byte _mutualIdentifier;
    private byte[] _mutualChallenge = Array.Empty<byte>();

    private readonly IReadOnlyList<ChapAlgorithm> _offered;

    /// <param name="offered">The algorithms to offer, preferred first (null: MD5 alone; see IscsiSessionOptions.ChapAlgorithms for why).</param>
    public ChapInitiatorExchange(ChapCredentials credentials, ChapCredentials? mutual, IReadOnlyList<ChapAlgorithm>? offered = null)
    {
        _credentials = credentials;
        _mutual = mutual;
        _offered = offered ?? [ChapAlgorithm.Md5];
    }

    /// <summary>The algorithm the target chose.</summary>
    public ChapAlgorithm Algorithm { get; private set; } = ChapAlgorithm.Md5;

    public bool ResponseSent { get; private set; }
    /// <summary>True once the exchange is complete (for mutual CHAP, once the target proved its secret).</summary>
    public bool Complete { get; private set; }
    public bool IsMutual => _mutual is not null;

    public string OfferedAlgorithms => ChapAlgorithms.Wire(_offered);

    /// <summary>Answers the target's CHAP_A/CHAP_I/CHAP_C; adds CHAP_N, CHAP_R (and CHAP_I, CHAP_C for mutual) to <paramref name="reply"/>.</summary>
    public string? OnChallenge(string? algorithm, string? identifier, string? challenge, List<TextKeyValue> reply)
    {
        if (ResponseSent)
            return "The target sent a second CHAP challenge.";
        if (!ChapAlgorithms.TryFromWire(algorithm, out var chosen) || !_offered.Contains(chosen))
            return $"The target chose CHAP_A={algorithm ?? "(none)"}; only {OfferedAlgorithms} was offered.";
        Algorithm = chosen;
        if (!ChapAuthenticator.TryParseIdentifier(identifier, out byte id))
            return $"The target's CHAP_I \"{identifier}\" is not a number from 0 to 255.";
        if (!ChapAuthenticator.TryDecodeBinary(challenge, 1024, out var targetChallenge))
            return "The target's CHAP_C is not a valid hex or base64 value of at most 1024 bytes.";
        if (targetChallenge.Length < ChapAuthenticator.ChallengeLength)
            return $"The target's CHAP challenge has {targetChallenge.Length} bytes; at least {ChapAuthenticator.ChallengeLength} are required.";

        reply.Add(new TextKeyValue(KeyNames.ChapName, _credentials.UserName));
        reply.Add(new TextKeyValue(KeyNames.ChapResponse,
            BinaryValue.EncodeHex(ChapAuthenticator.ComputeResponse(chosen, id, _credentials.Secret, targetChallenge))));
        if (_mutual is not null)
        {
            _mutualIdentifier = ChapAuthenticator.NewIdentifier();
            do _mutualChallenge = ChapAuthenticator.NewChallenge(ChapAlgorithms.ChallengeLength(chosen));
            while (_mutualChallenge.AsSpan().SequenceEqual(targetChallenge)); // never reflect the target's challenge
            reply.Add(new TextKeyValue(KeyNames.ChapIdentifier, OperationalLimits.Num(_mutualIdentifier)));
            reply.Add(new TextKeyValue(KeyNames.ChapChallenge, BinaryValue.EncodeHex(_mutualChallenge)));
        }
        else
        {
            Complete = true;
        }
        ResponseSent = true;
        return null;
    }

    /// <summary>Checks the target's CHAP_N/CHAP_R for mutual CHAP.</summary>
    public string? OnTargetResponse(string? name, string? response)
    {
        if (_mutual is null)
            return "The target sent CHAP_N/CHAP_R although mutual CHAP was not requested.";
        if (!ResponseSent)
            return "The target sent a CHAP response before the initiator's challenge.";
        if (name is null || response is null)
            return "The target did not prove its identity: CHAP_N or CHAP_R is missing from its answer.";
        if (name != _mutual.UserName)
            return $"The target's CHAP user name \"{name}\" is not the expected \"{_mutual.UserName}\".";
        if (!ChapAuthenticator.TryDecodeBinary(response, 1024, out var received))
            return "The target's CHAP_R is not a valid hex or base64 value.";
        var expected = ChapAuthenticator.ComputeResponse(Algorithm, _mutualIdentifier, _mutual.Secret, _mutualChallenge);
        if (!CryptographicOperations.FixedTimeEquals(expected, received))
            return "The target's CHAP response does not match the expected secret; the target is not who it claims to be.";
        Complete = true;
        return null;
    }
}
