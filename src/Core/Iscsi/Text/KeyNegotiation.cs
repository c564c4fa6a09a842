namespace Iser.Core.Iscsi.Text;

/// <summary>What a responder says to one offered key, and the value then in force.</summary>
/// <param name="Answer">The value to send back, or null when nothing is sent (declarations).</param>
/// <param name="Result">The value in force after this exchange (the default after a refusal).</param>
/// <param name="Reason">Why the offer was refused, as a sentence, when it was.</param>
public readonly record struct KeyAnswer(string? Answer, string? Result, string? Reason = null);

/// <summary>
/// The result functions of RFC 7143 §6.2: how a responder answers an offer, and how an originator checks the
/// answer it gets back. Knows nothing of login stages; the caller decides relevance (Irrelevant) first.
/// </summary>
public static class KeyNegotiation
{
    /// <summary>
    /// Answers <paramref name="offered"/> for key <paramref name="definition"/> given this side's own value
    /// <paramref name="local"/> (for list keys: the comma list of values this side accepts).
    /// </summary>
    public static KeyAnswer Respond(KeyDefinition definition, string offered, string local)
    {
        if (definition.Obsolete)
            return new KeyAnswer(NegotiationValues.Reject, null, $"{definition.Name} is obsolete since RFC 7143.");
        if (definition.Validate(offered) is { } invalid)
            return new KeyAnswer(NegotiationValues.Reject, definition.Default, invalid);

        switch (definition.Rule)
        {
            case NegotiationRule.Declarative:
                return new KeyAnswer(null, offered);

            case NegotiationRule.ListSelection:
            {
                var accepted = local.Split(',');
                foreach (var candidate in offered.Split(','))
                    if (Array.IndexOf(accepted, candidate) >= 0)
                        return new KeyAnswer(candidate, candidate);
                return new KeyAnswer(NegotiationValues.Reject, definition.Default,
                    $"None of the offered {definition.Name} values ({offered}) is acceptable here ({local}).");
            }

            case NegotiationRule.BooleanAnd:
            {
                string result = offered == NegotiationValues.Yes && local == NegotiationValues.Yes ? NegotiationValues.Yes : NegotiationValues.No;
                return new KeyAnswer(result, result);
            }

            case NegotiationRule.BooleanOr:
            {
                string result = offered == NegotiationValues.Yes || local == NegotiationValues.Yes ? NegotiationValues.Yes : NegotiationValues.No;
                return new KeyAnswer(result, result);
            }

            case NegotiationRule.NumericalMinimum:
            case NegotiationRule.NumericalMaximum:
            {
                KeyDefinition.TryParseNumber(offered, out long theirs);
                if (!KeyDefinition.TryParseNumber(local, out long ours))
                    throw new ArgumentException($"The local value of {definition.Name} \"{local}\" is not a number.", nameof(local));
                long chosen = definition.Rule == NegotiationRule.NumericalMaximum
                    ? Math.Max(theirs, ours)
                    : MinimumOf(definition, theirs, ours);
                string text = chosen.ToString(System.Globalization.CultureInfo.InvariantCulture);
                return new KeyAnswer(text, text);
            }
        }
        throw new InvalidOperationException($"Unhandled rule {definition.Rule}.");
    }

    /// <summary>
    /// Checks the answer to an offer this side made. True with the resulting value when the answer is consistent with
    /// the rule (a refusal gives the default); false with a sentence when the peer broke the rule (a protocol error).
    /// </summary>
    public static bool TryAcceptAnswer(KeyDefinition definition, string offered, string answer, out string? result, out string? error)
    {
        result = definition.Default;
        error = null;
        if (NegotiationValues.IsRefusal(answer))
            return true;
        if (definition.Validate(answer) is { } invalid)
        {
            error = $"The answer {definition.Name}={answer} is invalid: {invalid}";
            return false;
        }

        switch (definition.Rule)
        {
            case NegotiationRule.Declarative:
                result = answer;
                return true;
            case NegotiationRule.ListSelection:
                if (answer.Contains(',') || Array.IndexOf(offered.Split(','), answer) < 0)
                {
                    error = $"The answer {definition.Name}={answer} is not one of the offered values ({offered}).";
                    return false;
                }
                break;
            case NegotiationRule.BooleanAnd:
                if (offered == NegotiationValues.No && answer == NegotiationValues.Yes)
                {
                    error = $"{definition.Name} was offered as No; the AND rule cannot give Yes.";
                    return false;
                }
                break;
            case NegotiationRule.BooleanOr:
                if (offered == NegotiationValues.Yes && answer == NegotiationValues.No)
                {
                    error = $"{definition.Name} was offered as Yes; the OR rule cannot give No.";
                    return false;
                }
                break;
            case NegotiationRule.NumericalMinimum:
            {
                KeyDefinition.TryParseNumber(offered, out long mine);
                KeyDefinition.TryParseNumber(answer, out long theirs);
                if (MinimumOf(definition, mine, theirs) != theirs)
                {
                    error = $"The answer {definition.Name}={answer} is larger than the offered {offered}; the result must be the minimum.";
                    return false;
                }
                break;
            }
            case NegotiationRule.NumericalMaximum:
            {
                KeyDefinition.TryParseNumber(offered, out long mine);
                KeyDefinition.TryParseNumber(answer, out long theirs);
                if (theirs < mine)
                {
                    error = $"The answer {definition.Name}={answer} is smaller than the offered {offered}; the result must be the maximum.";
                    return false;
                }
                break;
            }
        }
        result = answer;
        return true;
    }

    /// <summary>
    /// The result of an offer the responder did not answer, when the RFC lets it stay silent (§6.2.2: an AND key offered
    /// as No, an OR key offered as Yes); otherwise null.
    /// </summary>
    public static string? ImpliedResult(KeyDefinition definition, string offered) => definition.Rule switch
    {
        NegotiationRule.BooleanAnd when offered == NegotiationValues.No => NegotiationValues.No,
        NegotiationRule.BooleanOr when offered == NegotiationValues.Yes => NegotiationValues.Yes,
        _ => null,
    };

    private static long MinimumOf(KeyDefinition definition, long a, long b)
    {
        if (definition.ZeroMeansUnlimited)
        {
            if (a == 0) return b;
            if (b == 0) return a;
        }
        return Math.Min(a, b);
    }
}
