using System.Text;

namespace Iser.Core.Iscsi.Text;

/// <summary>
/// Encodes and decodes iSCSI text data: UTF-8 <c>key=value</c> pairs each ended by a zero byte (RFC 7143 §6.1).
/// Enforces the syntax limits that do not depend on which key it is; per-key value limits live in
/// <see cref="KeyDefinition"/>.
/// </summary>
public static class TextKeyValueCodec
{
    /// <summary>RFC 7143 §6.1: key names are at most 63 bytes.</summary>
    public const int MaxKeyNameLength = 63;
    /// <summary>No single value may be longer than the 8192 bytes of text every node must accept in one negotiation.</summary>
    public const int MaxValueLength = 8192;
    /// <summary>Upper bound on a whole (reassembled) text block; protects against a peer sending C=1 forever.</summary>
    public const int DefaultMaxTextLength = 65536;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>
    /// Parses text data into pairs in wire order. Empty entries (runs of zero bytes, e.g. padding) are skipped; a last
    /// pair without its terminating zero is accepted. Throws <see cref="TextFormatException"/> with a sentence
    /// when a pair is malformed or a key appears twice.
    /// </summary>
    public static List<TextKeyValue> Parse(ReadOnlySpan<byte> data, int maxTextLength = DefaultMaxTextLength, bool allowRepeatedKeys = false)
    {
        if (!TryParse(data, out var pairs, out var error, maxTextLength, allowRepeatedKeys))
            throw new TextFormatException(error!);
        return pairs;
    }

    /// <param name="allowRepeatedKeys">True for text where the RFC lets keys repeat (a SendTargets response lists many
    /// TargetName/TargetAddress pairs); false for negotiation text, where a repeated key is an error.</param>
    public static bool TryParse(ReadOnlySpan<byte> data, out List<TextKeyValue> pairs, out string? error,
        int maxTextLength = DefaultMaxTextLength, bool allowRepeatedKeys = false)
    {
        pairs = new List<TextKeyValue>();
        error = null;
        if (data.Length > maxTextLength)
        {
            error = $"The text data is {data.Length} bytes long; at most {maxTextLength} bytes are accepted.";
            return false;
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        while (!data.IsEmpty)
        {
            int end = data.IndexOf((byte)0);
            var entry = end < 0 ? data : data[..end];
            data = end < 0 ? ReadOnlySpan<byte>.Empty : data[(end + 1)..];
            if (entry.IsEmpty)
                continue;

            int equals = entry.IndexOf((byte)'=');
            if (equals < 0)
            {
                error = $"The text entry \"{Printable(entry)}\" has no '=' between key and value.";
                return false;
            }
            string key;
            string value;
            try
            {
                key = StrictUtf8.GetString(entry[..equals]);
                value = StrictUtf8.GetString(entry[(equals + 1)..]);
            }
            catch (DecoderFallbackException)
            {
                error = $"The text entry \"{Printable(entry)}\" is not valid UTF-8.";
                return false;
            }

            if (ValidateKeyName(key) is { } keyError)
            {
                error = keyError;
                return false;
            }
            if (entry.Length - equals - 1 > MaxValueLength)
            {
                error = $"The value of key {key} is {entry.Length - equals - 1} bytes long; at most {MaxValueLength} bytes are allowed.";
                return false;
            }
            if (!allowRepeatedKeys && !seen.Add(key))
            {
                error = $"The key {key} appears more than once in the same text data.";
                return false;
            }
            pairs.Add(new TextKeyValue(key, value));
        }
        return true;
    }

    /// <summary>Encodes pairs as <c>key=value\0</c> in order. Throws <see cref="TextFormatException"/> on a bad key name or an over-long value.</summary>
    public static byte[] Encode(IEnumerable<TextKeyValue> pairs)
    {
        var buffer = new List<byte>(256);
        foreach (var pair in pairs)
        {
            if (ValidateKeyName(pair.Key) is { } keyError)
                throw new TextFormatException(keyError);
            if (pair.Value.Contains('\0'))
                throw new TextFormatException($"The value of key {pair.Key} contains a zero byte, which would end the pair early.");
            int valueBytes = Encoding.UTF8.GetByteCount(pair.Value);
            if (valueBytes > MaxValueLength)
                throw new TextFormatException($"The value of key {pair.Key} is {valueBytes} bytes long; at most {MaxValueLength} bytes are allowed.");
            buffer.AddRange(Encoding.UTF8.GetBytes(pair.Key));
            buffer.Add((byte)'=');
            buffer.AddRange(Encoding.UTF8.GetBytes(pair.Value));
            buffer.Add(0);
        }
        return buffer.ToArray();
    }

    public static byte[] Encode(params TextKeyValue[] pairs) => Encode((IEnumerable<TextKeyValue>)pairs);

    /// <summary>
    /// Null when <paramref name="key"/> is a valid key name: a standard-label (capital letter first, then letters,
    /// digits and <c>. - + @ _</c>, at most 63 bytes) or an extension key starting with <c>X-</c> or <c>X#</c>.
    /// Otherwise a sentence saying what is wrong.
    /// </summary>
    public static string? ValidateKeyName(string key)
    {
        if (key.Length == 0)
            return "A text entry has an empty key name.";
        if (Encoding.UTF8.GetByteCount(key) > MaxKeyNameLength)
            return $"The key name \"{Shorten(key)}\" is longer than {MaxKeyNameLength} bytes.";
        if (key[0] is < 'A' or > 'Z')
            return $"The key name \"{key}\" does not start with a capital letter.";
        for (int i = 1; i < key.Length; i++)
        {
            char c = key[i];
            bool ok = c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '.' or '-' or '+' or '@' or '_'
                      || (c == '#' && i == 1 && key[0] == 'X');
            if (!ok)
                return $"The key name \"{key}\" contains the character '{c}', which key names may not use.";
        }
        return null;
    }

    /// <summary>True for vendor (<c>X-</c>) and IANA-registered (<c>X#</c>) extension keys.</summary>
    public static bool IsExtensionKey(string key) => key.StartsWith("X-", StringComparison.Ordinal) || key.StartsWith("X#", StringComparison.Ordinal);

    private static string Shorten(string s) => s.Length <= 70 ? s : s[..70] + "...";

    private static string Printable(ReadOnlySpan<byte> bytes)
    {
        var sb = new StringBuilder();
        foreach (byte b in bytes[..Math.Min(bytes.Length, 64)])
            sb.Append(b is >= 0x20 and < 0x7f ? (char)b : '?');
        if (bytes.Length > 64) sb.Append("...");
        return sb.ToString();
    }
}
