using System.Security.Cryptography;
using System.Text;
using Iser.Core.Iscsi.Text;

namespace Iser.Core.Iscsi.Login;

/// <summary>
/// CHAP as iSCSI uses it (RFC 7143 §12.1.3, RFC 1994): response = HASH(identifier ‖ secret ‖ challenge), with MD5 (5,
/// the one RFC 7143 requires), SHA-1 (6), SHA-256 (7) or SHA3-256 (8) as Linux LIO and open-iscsi offer them.
/// Binary values travel as hex (0x...) or base64 (0b...); both are accepted, hex is sent.
/// The two sides' state machines are <see cref="ChapTargetExchange"/> and <see cref="ChapInitiatorExchange"/>.
/// </summary>
public static class ChapAuthenticator
{
    /// <summary>CHAP_A value for MD5, the one algorithm RFC 7143 requires.</summary>
    public const string Md5Algorithm = "5";
    /// <summary>The fewest bytes of challenge we send or accept (RFC 7143 asks for one at least as long as the hash).</summary>
    public const int ChallengeLength = 16;
    /// <summary>RFC 7143 §12.1.3: secrets shorter than 96 bits are open to off-line dictionary attacks.</summary>
    public const int MinimumSecretLength = 12;

    /// <summary>The MD5 response: MD5(identifier ‖ secret ‖ challenge).</summary>
    public static byte[] ComputeResponse(byte identifier, ReadOnlySpan<byte> secret, ReadOnlySpan<byte> challenge) =>
        ComputeResponse(ChapAlgorithm.Md5, identifier, secret, challenge);

    public static byte[] ComputeResponse(byte identifier, string secret, ReadOnlySpan<byte> challenge) =>
        ComputeResponse(ChapAlgorithm.Md5, identifier, Encoding.UTF8.GetBytes(secret), challenge);

    /// <summary>The response under <paramref name="algorithm"/>: HASH(identifier ‖ secret ‖ challenge), as for MD5.</summary>
    public static byte[] ComputeResponse(ChapAlgorithm algorithm, byte identifier, ReadOnlySpan<byte> secret, ReadOnlySpan<byte> challenge)
    {
        var input = new byte[1 + secret.Length + challenge.Length];
        input[0] = identifier;
        secret.CopyTo(input.AsSpan(1));
        challenge.CopyTo(input.AsSpan(1 + secret.Length));
        return ChapAlgorithms.Hash(algorithm, input);
    }

    public static byte[] ComputeResponse(ChapAlgorithm algorithm, byte identifier, string secret, ReadOnlySpan<byte> challenge) =>
        ComputeResponse(algorithm, identifier, Encoding.UTF8.GetBytes(secret), challenge);

    public static byte[] NewChallenge(int length = ChallengeLength) => RandomNumberGenerator.GetBytes(length);

    public static byte NewIdentifier() => (byte)RandomNumberGenerator.GetInt32(256);

    /// <summary>True when the secret is shorter than the 12 bytes RFC 7143 asks for.</summary>
    public static bool IsWeakSecret(string secret) => Encoding.UTF8.GetByteCount(secret) < MinimumSecretLength;

    internal static bool TryParseIdentifier(string? value, out byte identifier)
    {
        identifier = 0;
        if (value is null || !KeyDefinition.TryParseNumber(value, out long number) || number is < 0 or > 255)
            return false;
        identifier = (byte)number;
        return true;
    }

    internal static bool TryDecodeBinary(string? value, int maxLength, out byte[] bytes)
    {
        bytes = Array.Empty<byte>();
        return value is not null && BinaryValue.TryDecode(value, out bytes) && bytes.Length > 0 && bytes.Length <= maxLength;
    }
}
