using System.Globalization;
using System.Text;

namespace Iser.Core.Iscsi.Text;

/// <summary>
/// One text key as RFC 7143 §13 (or RFC 7145 §6) defines it: the value's syntax and limits, how the result is
/// reached, where it may be used and by whom.
/// </summary>
public sealed record KeyDefinition
{
    public required string Name { get; init; }
    public required KeyValueType Type { get; init; }
    public required NegotiationRule Rule { get; init; }
    public required KeyUse Use { get; init; }
    public KeyScope Scope { get; init; } = KeyScope.Session;
    public KeySenders Senders { get; init; } = KeySenders.Both;
    /// <summary>The RFC default, or null when the key has none (names, CHAP values).</summary>
    public string? Default { get; init; }
    /// <summary>Numerical range (inclusive).</summary>
    public long Min { get; init; }
    public long Max { get; init; } = long.MaxValue;
    /// <summary>Numerical: the value 0 means "no limit" and wins over any other in a minimum (MaxOutstandingUnexpectedPDUs).</summary>
    public bool ZeroMeansUnlimited { get; init; }
    /// <summary>Tokens the RFC defines for list/enumerated keys (others may be offered; they are simply never chosen).</summary>
    public IReadOnlyList<string>? KnownValues { get; init; }
    /// <summary>Bytes of one value (or of each list item); 255 unless the RFC says otherwise (iSCSI names 223).</summary>
    public int MaxValueLength { get; init; } = 255;
    /// <summary>Binary values: the decoded length limit (1024 for CHAP_C/CHAP_R).</summary>
    public int MaxBinaryLength { get; init; } = 1024;
    /// <summary>Irrelevant in a discovery session (RFC "Irrelevant when: SessionType=Discovery").</summary>
    public bool IrrelevantInDiscovery { get; init; }
    /// <summary>An RFC 7145 key: irrelevant unless RDMAExtensions=Yes.</summary>
    public bool IserKey { get; init; }
    /// <summary>May legitimately appear more than once (TargetAddress, TargetName in a SendTargets response).</summary>
    public bool MayRepeat { get; init; }
    /// <summary>Obsolete RFC 3720 marker keys: RFC 7143 §13.26 says answer Reject, never NotUnderstood.</summary>
    public bool Obsolete { get; init; }

    public bool IsNegotiated => Rule != NegotiationRule.Declarative;

    /// <summary>Null when <paramref name="value"/> is a valid value of this key, else a sentence saying why not.</summary>
    public string? Validate(string value)
    {
        switch (Type)
        {
            case KeyValueType.Boolean:
                return value is NegotiationValues.Yes or NegotiationValues.No ? null : $"{Name} must be Yes or No, not \"{value}\".";
            case KeyValueType.Numerical:
                if (!TryParseNumber(value, out long number))
                    return $"{Name}={value} is not a number.";
                if (number < Min || number > Max)
                    return ZeroMeansUnlimited && number == 0 ? null : $"{Name}={value} is outside the range {Min} to {Max}.";
                return null;
            case KeyValueType.List:
                if (value.Length == 0) return $"{Name} has an empty list.";
                foreach (var item in value.Split(','))
                {
                    if (item.Length == 0) return $"{Name}={value} has an empty list item.";
                    if (Encoding.UTF8.GetByteCount(item) > MaxValueLength) return $"An item of {Name} is longer than {MaxValueLength} bytes.";
                }
                return null;
            case KeyValueType.Enumerated:
                return KnownValues is null || KnownValues.Contains(value) ? null : $"{Name}={value} is not one of {string.Join(", ", KnownValues)}.";
            case KeyValueType.Binary:
                if (!BinaryValue.TryDecode(value, out var bytes))
                    return $"{Name} is neither a hex (0x...) nor a base64 (0b...) constant.";
                return bytes.Length > MaxBinaryLength ? $"{Name} is {bytes.Length} bytes; at most {MaxBinaryLength} are allowed." : null;
            case KeyValueType.IscsiName:
                if (value.Length == 0) return $"{Name} is empty.";
                return Encoding.UTF8.GetByteCount(value) > MaxValueLength ? $"{Name} is longer than {MaxValueLength} bytes." : null;
            default:
                return Encoding.UTF8.GetByteCount(value) > MaxValueLength ? $"{Name} is longer than {MaxValueLength} bytes." : null;
        }
    }

    /// <summary>RFC numerical values are decimal or hex-constant (0x...).</summary>
    public static bool TryParseNumber(string value, out long number)
    {
        number = 0;
        if (value.Length == 0 || value.Length > 20) return false;
        if (value.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
            return value.Length > 2 && long.TryParse(value.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out number) && number >= 0;
        foreach (char c in value)
            if (c is < '0' or > '9') return false;
        return long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out number);
    }
}
