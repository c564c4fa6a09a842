using System.Security.Cryptography;

namespace Iser.Core.Iscsi.Login;

/// <summary>CHAP_A values (the PPP authentication algorithm registry, as RFC 7143 §12.1.3 and Linux LIO use them).</summary>
public enum ChapAlgorithm
{
    Md5 = 5,
    Sha1 = 6,
    Sha256 = 7,
    Sha3_256 = 8,
}

/// <summary>What each algorithm computes, which this machine supports, and how lists of them are written.</summary>
public static class ChapAlgorithms
{
    /// <summary>Strongest first; SHA3-256 only where the platform's crypto library has it.</summary>
    public static IReadOnlyList<ChapAlgorithm> Supported { get; } =
        [ChapAlgorithm.Sha256, .. SHA3_256.IsSupported ? [ChapAlgorithm.Sha3_256] : Array.Empty<ChapAlgorithm>(), ChapAlgorithm.Sha1, ChapAlgorithm.Md5];

    public static bool IsSupported(ChapAlgorithm algorithm) => Supported.Contains(algorithm);

    public static int DigestLength(ChapAlgorithm algorithm) => algorithm switch
    {
        ChapAlgorithm.Md5 => 16,
        ChapAlgorithm.Sha1 => 20,
        _ => 32,
    };

    /// <summary>The challenge we send: never shorter than 16 bytes, and as long as the digest (RFC 7143 §12.1.3).</summary>
    public static int ChallengeLength(ChapAlgorithm algorithm) => Math.Max(ChapAuthenticator.ChallengeLength, DigestLength(algorithm));

    public static byte[] Hash(ChapAlgorithm algorithm, ReadOnlySpan<byte> input) => algorithm switch
    {
        ChapAlgorithm.Md5 => MD5.HashData(input),
        ChapAlgorithm.Sha1 => SHA1.HashData(input),
        ChapAlgorithm.Sha256 => SHA256.HashData(input),
        ChapAlgorithm.Sha3_256 => SHA3_256.HashData(input),
        _ => throw new ArgumentOutOfRangeException(nameof(algorithm), algorithm, "Not a CHAP algorithm this implementation knows."),
    };

    /// <summary>The CHAP_A value: the algorithm's number.</summary>
    public static string Wire(ChapAlgorithm algorithm) => ((int)algorithm).ToString(System.Globalization.CultureInfo.InvariantCulture);

    public static string Wire(IEnumerable<ChapAlgorithm> algorithms) => string.Join(',', algorithms.Select(Wire));

    public static string Name(ChapAlgorithm algorithm) => algorithm switch
    {
        ChapAlgorithm.Md5 => "md5",
        ChapAlgorithm.Sha1 => "sha1",
        ChapAlgorithm.Sha256 => "sha256",
        ChapAlgorithm.Sha3_256 => "sha3-256",
        _ => ((int)algorithm).ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    /// <summary>
    /// Parses a configured list ("sha256,sha3-256", "7,8", names or numbers, in order of preference). Every entry must be
    /// an algorithm this machine supports; the list may not be empty.
    /// </summary>
    public static IReadOnlyList<ChapAlgorithm> Parse(string text)
    {
        var list = new List<ChapAlgorithm>();
        foreach (var raw in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            ChapAlgorithm algorithm = raw.ToLowerInvariant() switch
            {
                "md5" or "5" => ChapAlgorithm.Md5,
                "sha1" or "sha-1" or "6" => ChapAlgorithm.Sha1,
                "sha256" or "sha-256" or "7" => ChapAlgorithm.Sha256,
                "sha3-256" or "sha3_256" or "8" => ChapAlgorithm.Sha3_256,
                _ => throw new FormatException($"\"{raw}\" is not a CHAP algorithm: use md5, sha1, sha256 or sha3-256 (or 5, 6, 7, 8)."),
            };
            if (!IsSupported(algorithm))
                throw new FormatException($"CHAP algorithm {Name(algorithm)} is not available on this machine (its crypto library lacks it).");
            if (!list.Contains(algorithm)) list.Add(algorithm);
        }
        if (list.Count == 0) throw new FormatException("The list of CHAP algorithms is empty.");
        return list;
    }

    /// <summary>A CHAP_A number from the wire, if it is one we know and support.</summary>
    internal static bool TryFromWire(string? value, out ChapAlgorithm algorithm)
    {
        algorithm = default;
        if (value is null || !int.TryParse(value.Trim(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int number))
            return false;
        algorithm = (ChapAlgorithm)number;
        return Enum.IsDefined(algorithm) && IsSupported(algorithm);
    }
}
